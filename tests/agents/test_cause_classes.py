"""Calibrated, non-circular diagnoses with generic cause classes, through the real agent.

Small synthetic evidence of an application AI-Ops has no catalogue for (service ``shop``):
each cause class from the errors any app produces, a deploy that is (or is not) to blame,
an anomaly that must not explain itself, weak evidence that must stay at low confidence, and
catalogue advice that must not leak to another application.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from agents import mesh
from agents.diagnostic.agent import BookmarkDiagnosticAgent
from agents.events import parse_event
from agents.models import Anomaly, AnomalyDetector
from agents.monitor.recording import anomaly_event
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


def error(exc_type: str, message: str, *, at: datetime | None = None, service: str = SERVICE):
    at = at or datetime.now(UTC)
    return parse_event({
        "type": "log.line", "source": service, "instance": "web@h:1", "severity": "error",
        "timestamp": at.isoformat(),
        "payload": {"level": "ERROR", "logger": "django.request",
                    "message": "Internal Server Error: GET /orders/<int:pk>/",
                    "exception": {"type": exc_type, "message": message, "frames": [
                        {"module": "shop.views", "function": "order", "lineno": 12,
                         "context_line": "x()", "in_app": True}]}},
    })  # fmt: skip


def deploy(version: str, at: datetime, service: str = SERVICE):
    return parse_event({"type": "deploy.finished", "source": service,
                        "timestamp": at.isoformat(), "payload": {"version": version}})  # fmt: skip


def anomaly(series: str, value: float, expected: float, service: str = SERVICE):
    now = timezone.now()
    row = Anomaly.objects.create(
        series=series, detector=AnomalyDetector.BURST, category="performance",
        severity="warning", score=0.8, value=value, expected=expected, window_start=now,
        window_end=now, evidence={"service": service},
    )  # fmt: skip
    return anomaly_event(row)


def top(diagnosis: Diagnosis) -> dict:
    return diagnosis.hypotheses[0]


@pytest.mark.parametrize(
    ("exc_type", "message", "cause_class"),
    [
        ("django.db.utils.OperationalError", "database is locked", "database-contention"),
        ("psycopg.errors.LockNotAvailable", "canceling statement due to lock timeout",
         "database-contention"),
        ("requests.exceptions.ConnectionError", "Connection refused", "upstream-dependency"),
        ("redis.exceptions.TimeoutError", "Timeout reading from socket", "upstream-dependency"),
        ("MemoryError", "", "resource-exhaustion"),
        ("OSError", "[Errno 24] Too many open files", "resource-exhaustion"),
        ("django.core.exceptions.RequestDataTooBig",
         "Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE.", "oversized-work"),
        ("json.decoder.JSONDecodeError", "Expecting value: line 1 column 1 (char 0)",
         "malformed-input"),
    ],
)  # fmt: skip
def test_each_cause_class_is_the_top_hypothesis_of_its_evidence(exc_type, message, cause_class):
    mesh.publish_many([error(exc_type, message) for _ in range(4)])
    run_agent()

    diagnosis = Diagnosis.objects.get()
    assert top(diagnosis)["kind"] == "cause-class"
    assert diagnosis.signal == cause_class
    assert diagnosis.service == SERVICE
    assert 0.5 < diagnosis.confidence <= 0.95


def test_a_new_exception_after_a_deploy_is_a_regression_that_fades_with_time():
    now = datetime.now(UTC)
    mesh.publish(deploy("2.0", now - timedelta(minutes=1)))
    mesh.publish(error("AttributeError", "'NoneType' object has no attribute 'total'"))
    run_agent()

    fresh = Diagnosis.objects.get()
    assert fresh.signal == "deploy-regression"
    assert "2.0" in fresh.root_cause and fresh.confidence > 0.5

    # A new error of another service, long after its own deploy: the change barely counts.
    mesh.publish(deploy("2.1", now - timedelta(minutes=28), service="cart"))
    mesh.publish(error("KeyError", "'sku'", service="cart"))
    run_agent()
    late = Diagnosis.objects.get(service="cart")
    change = next(h for h in late.hypotheses if "2.1" in h["cause"])
    assert change["score"] < 0.3
    assert late.confidence <= 0.5


def test_errors_seen_before_the_deploy_are_not_blamed_on_it():
    before = datetime.now(UTC) - timedelta(minutes=3)
    mesh.publish(error("ValueError", "bad quantity", at=before))
    run_agent()
    Diagnosis.objects.all().delete()

    mesh.publish(deploy("3.0", datetime.now(UTC) - timedelta(minutes=1)))
    mesh.publish(error("ValueError", "bad quantity"))
    run_agent()

    diagnosis = Diagnosis.objects.get()
    assert diagnosis.signal != "deploy-regression"
    [change] = [h for h in diagnosis.hypotheses if h["kind"] == "recent-change"]
    assert change["evidence"][0]["new_since_change"] is False
    assert diagnosis.confidence <= 0.5


def test_an_anomaly_never_explains_itself_and_alone_is_an_unknown_cause():
    mesh.publish(anomaly("api.latency_mean", 900.0, 40.0))
    run_agent()

    diagnosis = Diagnosis.objects.get()
    assert diagnosis.service == SERVICE  # the service of the evidence, not "aiops"
    assert not any("api.latency_mean" in h["cause"] for h in diagnosis.hypotheses)
    assert top(diagnosis)["kind"] == "unknown"
    assert diagnosis.confidence <= 0.5


def test_one_weak_hypothesis_stays_at_low_confidence():
    mesh.publish(anomaly("api.latency_mean", 900.0, 40.0))
    mesh.publish(anomaly("api.error_rate", 0.2, 0.0))  # another series: weak corroboration
    run_agent()

    first = Diagnosis.objects.order_by("pk").first()
    weak = [h for h in first.hypotheses if h["kind"] != "unknown"]
    assert weak and all(h["score"] < 1.0 for h in weak)
    assert first.confidence <= 0.5


def test_latency_up_with_throughput_down_and_timeouts_is_an_upstream():
    mesh.publish_many(
        [error("httpx.ReadTimeout", "timed out") for _ in range(3)]
        + [anomaly("api.throughput", 2.0, 9.0)]
    )
    mesh.publish(anomaly("api.latency_mean", 3000.0, 30.0))
    run_agent()

    for diagnosis in Diagnosis.objects.all():
        assert diagnosis.service == SERVICE
        assert diagnosis.signal == "upstream-dependency"


def test_catalogue_advice_is_only_for_the_catalogue_application():
    # The bookmark manager's own "import timeout", word for word, on an unrelated service.
    failed = {"type": "import.failed", "severity": "error", "payload": {
        "import_id": "i-1", "user_id": "u-1", "source": "chrome", "error_type": "ImportTimeout",
        "error": "Timeout after 30s while inserting bookmarks batch into database",
        "bookmark_count": 52000, "batch_size": 1000}}  # fmt: skip
    mesh.publish(parse_event({**failed, "source": SERVICE}))
    mesh.publish(parse_event({**failed, "source": "bookmarks"}))
    run_agent()

    elsewhere = Diagnosis.objects.get(service=SERVICE)
    assert elsewhere.suggestions == []
    assert all(h["kind"] != "known-problem" for h in elsewhere.hypotheses)
    home = Diagnosis.objects.get(service="bookmarks")
    assert home.signal == "import_timeout" and home.suggestions
