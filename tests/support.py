"""Helpers shared by tests that start real processes (consumers, workers, the web server)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.db import connection

from aiops_site.database.owner import as_owner
from aiops_site.stack import database_url
from knowledge import fingerprint
from knowledge.fingerprint import Fingerprinter


def process_env(**extra: str) -> dict[str, str]:
    """The environment for a child process that must use this test run's database and Redis."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(
        DATABASE_URL=database_url(),
        REDIS_URL=settings.REDIS_URL,
        SECRET_KEY=settings.SECRET_KEY,
        LOG_LEVEL="WARNING",
        # With DATABASE_URL set the child would allow no control networks; keep the test's.
        CONTROL_URL_ALLOWED_NETWORKS=",".join(settings.CONTROL_URL_ALLOWED_NETWORKS),
        **extra,
    )
    return env


@contextlib.contextmanager
def owner_cursor() -> Iterator[Any]:
    """A cursor on the test database as its owner role: DDL, or tampering that only the
    owner (or a superuser) could do. It reconnects Django's connection, so only in
    transactional tests (``django_db(transaction=True)``)."""
    with as_owner(), connection.cursor() as cursor:
        yield cursor


def default_fingerprinter(client: Any, monkeypatch: Any, namespace: str) -> Fingerprinter:
    """A fresh shared Fingerprinter on ``client``, installed as this process's default (the
    one ``record_sighting`` and the alias sweep use) for one test."""
    worker = Fingerprinter(client, namespace=namespace)
    monkeypatch.setattr(fingerprint, "_default", worker)
    monkeypatch.setattr(fingerprint, "_default_pid", os.getpid())
    return worker
