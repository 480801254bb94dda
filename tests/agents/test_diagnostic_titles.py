"""The diagnostic agent titles an incident opened after its problem's fold by the problem.

Real agent over the real mesh (Redis) and PostgreSQL, with a fresh shared Fingerprinter:
once seven users' key logins have folded the user slot, bob's next failing login opens an
incident that reads the problem's general title (no user, no ``<*>``), while its
"Detected" row and its evidence quote bob's line as it came.
"""

from __future__ import annotations

import pytest
import redis

from knowledge import services
from knowledge.models import EventKind, Incident, Problem
from tests.agents.test_diagnostic_corroboration import diagnose, error_line
from tests.support import default_fingerprinter

pytestmark = pytest.mark.django_db(transaction=True)

USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace"]


def _ssh(user: str, n: int) -> str:
    return f"Accepted publickey for {user} from 10.0.{n}.7 port 22 ssh2"


@pytest.fixture
def shared(clean_redis: redis.Redis, monkeypatch):
    return default_fingerprinter(clean_redis, monkeypatch, "test:fp:diagnostic-titles")


def test_a_login_after_the_fold_opens_an_incident_under_the_general_title(shared):
    for n, user in enumerate(USERS, start=1):  # sighted only: no incident yet
        services.record_sighting(_ssh(user, n), service="sshd")
    services.sweep_aliases()
    [problem] = Problem.objects.canonical()
    assert problem.title == "Accepted publickey for <*> from <*> port <*> ssh2"

    diagnose(error_line(_ssh("bob", 9), service="sshd", instance="bastion-1"))

    incident = Incident.objects.get()
    assert incident.diagnosis.problem_id == problem.pk
    assert incident.title == "Accepted publickey for … from … port … ssh2"
    detected = incident.timeline.get(kind=EventKind.DETECTED).text
    assert detected == f"Detected on sshd: {_ssh('bob', 9)}"
    assert incident.diagnosis.evidence["message"] == _ssh("bob", 9)


def test_a_login_on_an_unfolded_problem_is_titled_from_its_line(shared):
    diagnose(error_line(_ssh("alice", 1), service="sshd", instance="bastion-1"))

    incident = Incident.objects.get()
    assert incident.diagnosis.problem.title == "Accepted publickey for alice from <*> port <*> ssh2"
    assert incident.title == _ssh("alice", 1)
