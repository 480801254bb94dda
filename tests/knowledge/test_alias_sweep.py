"""The graph follows the fingerprinter's merges: one problem per kind of error (issue 15).

Real PostgreSQL and Redis: problems are opened by ``record_sighting`` under sibling
messages, the shared ``Fingerprinter`` later folds the siblings into one family (recording
aliases), and ``sweep_aliases`` merges the problems opened under the merged-away
fingerprints, without waiting for a sighting to carry them again.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
import redis
from django.db import connection

from knowledge import fingerprint, services
from knowledge.fingerprint import Fingerprinter
from knowledge.models import Occurrence, Problem
from knowledge.services.aliases import ALIASES_APPLIED

from .conftest import T0

pytestmark = pytest.mark.django_db

USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace"]


def _login(user: str, n: int) -> str:
    return f"user {user} logged in from 10.0.{n}.7"


@pytest.fixture
def shared(clean_redis: redis.Redis, monkeypatch) -> Fingerprinter:
    """This process's fingerprinter, fresh for the test (the Redis database was flushed)."""
    worker = Fingerprinter(clean_redis, namespace="test:fp:alias")
    monkeypatch.setattr(fingerprint, "_default", worker)
    monkeypatch.setattr(fingerprint, "_default_pid", os.getpid())
    return worker


def test_explore(shared):
    a = services.record_sighting(_login("alice", 1), service="auth", at=T0)
    b = services.record_sighting(_login("bob", 2), service="auth", at=T0 + timedelta(minutes=1))
    print(a.pk, a.fingerprint, a.title, b.pk, b.fingerprint, b.title)
    for n, u in enumerate(USERS[2:]):
        r = shared.fingerprint_message(_login(u, n + 10))
        print(r)
    print(shared.aliases())
    print(shared.alias_log_since("0-0"))
    print(services.sweep_aliases())
    for p in Problem.objects.order_by("pk"):
        print(p.pk, p.fingerprint, p.merged_into_id, p.occurrence_count, p.status, p.title)
