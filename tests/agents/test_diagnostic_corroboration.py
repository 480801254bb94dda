"""One incident per cause: corroboration across wordings and anomalies, and workload weighing.

Two wordings of an import timeout fingerprint to two problems but explain the same curated
signal, so on one service they make one diagnosis whose confidence combines both (noisy-OR);
an unexplained anomaly during a diagnosed error burst is evidence for it, not a new incident.
Real events through the mesh, real PostgreSQL and Redis.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from agents import mesh
from agents.diagnostic import reasoning
from agents.diagnostic.agent import BookmarkDiagnosticAgent
from agents.events import parse_event
from agents.models import Anomaly, AnomalyDetector
from agents.monitor.recording import anomaly_event
from agents.runtime import AgentRunner
from knowledge import services, similarity
from knowledge.models import Diagnosis, DiagnosisStatus, Problem
from knowledge.seed import seed_knowledge

pytestmark = pytest.mark.django_db(transaction=True)

TIMED_OUT = "Import job 9a1 timed out after 300s while processing chrome bookmarks (48211 items)"
SOFT_LIMIT = "SoftTimeLimitExceeded: import_bookmarks[chrome] exceeded soft time limit of 300s"
UNEXPLAINED_SERIES = "http.latency_p95"  # close to no curated problem: its own hypothesis only


@pytest.fixture
def seeded(monkeypatch):
    # The exemplar index is cached per process for a minute: a fresh one sees this test's rows.
    monkeypatch.setattr(similarity, "EXEMPLARS", similarity.ExemplarIndex())  # per test
    seed_knowledge()


def run_agent(rounds: int = 3) -> None:
    runner = AgentRunner(BookmarkDiagnosticAgent())
    for _ in range(rounds):
        runner.run_once(block_ms=50)


def error_line(message: str, service: str = "bookmarks", instance: str = "web-1"):
    return parse_event(
        {"type": "log.line", "source": service, "instance": instance, "severity": "error",
         "payload": {"level": "ERROR", "message": message}}
    )  # fmt: skip


def diagnose(*events) -> None:
    mesh.publish_many(list(events))
    run_agent()


def anomaly(series: str = UNEXPLAINED_SERIES):
    now = timezone.now()
    row = Anomaly.objects.create(
        series=series, detector=AnomalyDetector.values[0], category="latency",
        severity="warning", score=0.95, value=900.0, window_start=now, window_end=now,
    )  # fmt: skip
    return anomaly_event(row)


def ready() -> list[dict]:
    return [d.event.payload for d in mesh.replay("diagnosis.ready")]


def noisy_or(a: float, b: float) -> float:
    return round(min(0.99, 1 - (1 - a) * (1 - b)), 3)


def test_two_wordings_of_one_cause_make_one_diagnosis_with_combined_confidence(seeded):
    diagnose(error_line(TIMED_OUT))
    first = Diagnosis.objects.get()
    assert first.signal == "import_timeout"
    alone = first.confidence
    assert 0 < alone < 0.99  # room to rise

    diagnose(error_line(SOFT_LIMIT))

    diagnosis = Diagnosis.objects.get()  # still one
    assert diagnosis.pk == first.pk
    soft_problem = Problem.objects.get(error_patterns__contains=[SOFT_LIMIT], signal="")
    assert soft_problem.pk != diagnosis.problem_id  # two problems, one diagnosis
    [corroboration] = diagnosis.evidence["corroboration"]
    assert corroboration["problem"] == soft_problem.pk
    assert diagnosis.evidence["corroborating_problems"] == sorted(
        [diagnosis.problem_id, soft_problem.pk]
    )
    assert diagnosis.confidence == noisy_or(alone, corroboration["confidence"])
    assert diagnosis.confidence > alone
    assert corroboration["raised_to"] == diagnosis.confidence  # what the pages say it did
    assert diagnosis.event_count == 2

    # The second wording alone on another service (of the catalogue's application: its
    # problems apply to those only): the same confidence, its own diagnosis.
    diagnose(error_line(SOFT_LIMIT, service="import-worker", instance="worker-1"))
    elsewhere = Diagnosis.objects.get(service="import-worker")
    assert elsewhere.pk != diagnosis.pk and elsewhere.signal == "import_timeout"
    assert elsewhere.confidence == corroboration["confidence"]
    assert diagnosis.confidence == noisy_or(alone, elsewhere.confidence)

    announced = [p for p in ready() if p["service"] == "bookmarks"]
    assert [p["diagnosis"] for p in announced] == [diagnosis.pk, diagnosis.pk]
    assert [p["confidence"] for p in announced] == [alone, diagnosis.confidence]


def test_the_same_evidence_again_does_not_raise_confidence(seeded):
    diagnose(error_line(TIMED_OUT))
    diagnose(error_line(SOFT_LIMIT))
    combined = Diagnosis.objects.get()

    diagnose(error_line(SOFT_LIMIT))  # the corroborating problem again
    diagnose(error_line(TIMED_OUT))  # the diagnosed problem again

    diagnosis = Diagnosis.objects.get()
    assert diagnosis.confidence == combined.confidence
    assert diagnosis.event_count == 4  # counted as evidence, not as new corroboration
    assert len(diagnosis.evidence["corroboration"]) == 1
    assert len(ready()) == 2  # no re-announcement without a rise


def test_a_remediating_diagnosis_still_absorbs_another_wording(seeded):
    diagnose(error_line(TIMED_OUT))
    Diagnosis.objects.update(status=DiagnosisStatus.REMEDIATING)

    diagnose(error_line(SOFT_LIMIT))

    diagnosis = Diagnosis.objects.get()
    assert diagnosis.status == DiagnosisStatus.REMEDIATING
    assert len(diagnosis.evidence["corroboration"]) == 1


def test_a_resolved_diagnosis_does_not_absorb_a_recurrence(seeded):
    diagnose(error_line(TIMED_OUT))
    resolved = Diagnosis.objects.get()
    services.resolve_diagnosis(resolved, "resolved by hand")

    diagnose(error_line(TIMED_OUT))  # the same problem: no problem-level coalescing either
    diagnose(error_line(SOFT_LIMIT))  # another wording: absorbed by the new one, not the old

    assert Diagnosis.objects.count() == 2
    recurrence = Diagnosis.objects.exclude(pk=resolved.pk).get()
    assert recurrence.status == DiagnosisStatus.OPEN
    assert recurrence.problem_id == resolved.problem_id
    assert len(recurrence.evidence["corroboration"]) == 1
    resolved.refresh_from_db()
    assert resolved.event_count == 1 and "corroboration" not in resolved.evidence


def test_an_unexplained_anomaly_during_an_error_burst_corroborates_it(seeded):
    diagnose(error_line(TIMED_OUT))
    burst = Diagnosis.objects.get()

    diagnose(anomaly())

    diagnosis = Diagnosis.objects.get()  # no second incident
    assert diagnosis.pk == burst.pk
    [corroboration] = diagnosis.evidence["corroboration"]
    assert corroboration["type"] == "anomaly.detected"
    assert UNEXPLAINED_SERIES in corroboration["message"]
    assert diagnosis.confidence == noisy_or(burst.confidence, corroboration["confidence"])
    assert diagnosis.confidence > burst.confidence
    assert len(ready()) == 2


def test_an_anomaly_with_no_error_burst_opens_its_own_diagnosis(seeded):
    diagnose(anomaly())

    diagnosis = Diagnosis.objects.get()
    assert diagnosis.trigger_type == "anomaly.detected"
    assert diagnosis.signal == ""
    assert "corroboration" not in diagnosis.evidence


def test_an_anomaly_after_the_concurrent_window_opens_its_own_diagnosis(seeded):
    diagnose(error_line(TIMED_OUT))
    burst = Diagnosis.objects.get()
    # Two minutes ago: well inside the coalescing window, outside the 90 s concurrent one.
    Diagnosis.objects.update(last_seen=timezone.now() - timedelta(minutes=2))

    diagnose(anomaly())

    assert Diagnosis.objects.count() == 2
    own = Diagnosis.objects.exclude(pk=burst.pk).get()
    assert own.trigger_type == "anomaly.detected"
    burst.refresh_from_db()
    assert "corroboration" not in burst.evidence
    assert burst.event_count == 1


def test_an_anomaly_is_not_read_as_the_symptom_of_another_anomaly(seeded):
    from agents.models import Anomaly, AnomalyDetector

    # An open, signalled diagnosis that an anomaly opened (the monitor tied it to a problem).
    now = timezone.now()
    Anomaly.objects.create(
        series="imports.failed", detector=AnomalyDetector.values[0], category="import",
        severity="error", score=0.9, value=40, window_start=now, window_end=now,
        problem=Problem.objects.get(signal="import_timeout"),
    )  # fmt: skip
    diagnose(anomaly("imports.failed"))
    first = Diagnosis.objects.get()
    assert first.signal == "import_timeout" and first.trigger_type == "anomaly.detected"

    diagnose(anomaly())

    assert Diagnosis.objects.count() == 2
    first.refresh_from_db()
    assert "corroboration" not in first.evidence


# --- Workload ----------------------------------------------------------------------------------


def import_failed(bookmark_count: int):
    return parse_event(
        {"type": "import.failed", "source": "bookmarks", "instance": "web-1", "severity": "error",
         "payload": {"import_id": "imp-1", "source": "chrome", "error": TIMED_OUT,
                     "error_type": "ImportTimeout", "bookmark_count": bookmark_count,
                     "batch_size": 1000}}
    )  # fmt: skip


def scores(bookmark_count: int) -> dict[str, reasoning.Hypothesis]:
    large_file = Problem.objects.get(signal="import_timeout")
    memory_leak = Problem.objects.get(signal="high_memory_usage")
    similar = [(large_file, 0.8), (memory_leak, 0.8)]
    hypotheses = reasoning.rank_hypotheses(
        import_failed(bookmark_count), similar, reasoning.Context()
    )
    return {h.signal: h for h in hypotheses}


def test_a_small_import_makes_the_large_file_explanation_less_likely(seeded):
    assert "large" in Problem.objects.get(signal="import_timeout").title.lower()
    small, medium, large = scores(300), scores(5_000), scores(50_000)

    base = medium["import_timeout"].score
    assert small["import_timeout"].score == pytest.approx(base - 0.3)
    assert large["import_timeout"].score == pytest.approx(base + 0.3)
    assert small["import_timeout"].score < large["import_timeout"].score
    [note] = [e for e in small["import_timeout"].evidence if e["kind"] == "workload"]
    assert note == {"kind": "workload", "bookmark_count": 300, "note": "a small import"}
    assert not [e for e in medium["import_timeout"].evidence if e["kind"] == "workload"]

    # A cause without the word "large" is not penalised by a small import.
    assert small["high_memory_usage"].score == pytest.approx(medium["high_memory_usage"].score)
    assert not [e for e in small["high_memory_usage"].evidence if e["kind"] == "workload"]


def test_a_small_import_lowers_the_confidence_of_a_stored_diagnosis(seeded):
    diagnose(import_failed(300))
    small = Diagnosis.objects.get()
    Diagnosis.objects.all().delete()
    diagnose(import_failed(50_000))

    large = Diagnosis.objects.get()
    assert small.signal == large.signal == "import_timeout"
    top = small.hypotheses[0]
    assert {"kind": "workload", "bookmark_count": 300, "note": "a small import"} in top["evidence"]
    assert small.confidence < large.confidence
