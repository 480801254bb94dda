"""Faults nobody wrote a rule for, on small synthetic cases through the real agent (real
PostgreSQL and Redis): what the novel-fault scorecard found, kept fixed.

A deploy explains a *new* error, but a regression shows on the first requests through its
code path: an error that only begins after hundreds of requests were served cleanly since
the deploy (a clock drifting, a token store filling) is not confidently blamed on it, nor
folded into the deploy's incident as more evidence for it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agents import mesh
from agents.diagnostic.agent import BookmarkDiagnosticAgent
from agents.diagnostic.reasoning import CLEAN_REQUESTS
from agents.events import parse_event
from agents.runtime import AgentRunner
from knowledge import similarity
from knowledge.models import Diagnosis
from knowledge.seed import seed_knowledge

pytestmark = pytest.mark.django_db(transaction=True)
SERVICE = "shop"


@pytest.fixture(autouse=True)
def seeded(monkeypatch):
    monkeypatch.setattr(similarity, "EXEMPLARS", similarity.ExemplarIndex())
    seed_knowledge()


def run_agent() -> None:
    runner = AgentRunner(BookmarkDiagnosticAgent())
    for _ in range(3):
        runner.run_once(block_ms=50)


def deploy(minutes_ago: float) -> None:
    at = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    change = {"type": "deploy.finished", "source": SERVICE, "timestamp": at.isoformat(),
              "payload": {"version": "4.2"}}  # fmt: skip
    mesh.publish(parse_event(change))


def served(requests: int) -> None:
    mesh.publish_many([
        parse_event({"type": "api.request", "source": SERVICE, "payload": {
            "method": "GET", "endpoint": "/orders/", "status": 200, "latency_ms": 30.0}})
        for _ in range(requests)
    ])  # fmt: skip


def error(exc_type: str, message: str) -> None:
    mesh.publish(parse_event({
        "type": "log.line", "source": SERVICE, "instance": "web@h:1", "severity": "error",
        "timestamp": datetime.now(UTC).isoformat(),
        "payload": {"level": "ERROR", "logger": "django.request",
                    "message": "Internal Server Error: GET /orders/<int:pk>/",
                    "exception": {"type": exc_type, "message": message, "frames": []}},
    }))  # fmt: skip


def test_an_error_beginning_after_much_clean_traffic_is_not_blamed_on_the_deploy() -> None:
    deploy(minutes_ago=3)
    served(CLEAN_REQUESTS + 50)
    error("django.core.signing.SignatureExpired", "Signature age 3843.2 > 3600 seconds")
    run_agent()

    [diagnosis] = Diagnosis.objects.all()
    assert diagnosis.signal != "deploy-regression"
    assert diagnosis.confidence <= 0.5
    [change] = [h for h in diagnosis.hypotheses if h["kind"] == "recent-change"]
    assert change["evidence"][0]["served_before"] == CLEAN_REQUESTS


def test_an_error_on_the_first_requests_after_the_deploy_is_still_its_regression() -> None:
    deploy(minutes_ago=3)
    served(20)
    error("KeyError", "'folder_path'")
    run_agent()

    [diagnosis] = Diagnosis.objects.all()
    assert diagnosis.signal == "deploy-regression"
    assert diagnosis.confidence > 0.5


def test_a_later_error_does_not_join_and_raise_the_deploys_incident() -> None:
    deploy(minutes_ago=3)
    error("KeyError", "'folder_path'")
    run_agent()
    regression = Diagnosis.objects.get()
    served(CLEAN_REQUESTS + 50)
    error("django.core.signing.SignatureExpired", "Signature age 3843.2 > 3600 seconds")
    run_agent()

    regression.refresh_from_db()
    assert "corroboration" not in regression.evidence
    assert Diagnosis.objects.count() == 2
