"""The diagnostic agent: real events through the mesh, stored diagnoses, diagnosis.ready."""

from __future__ import annotations

import pytest

from agents import mesh
from agents.diagnostic.agent import BookmarkDiagnosticAgent
from agents.diagnostic.reasoning import classify_error, error_text
from agents.events import parse_event
from agents.monitor.recording import anomaly_event
from agents.runtime import AgentRunner
from knowledge.models import Diagnosis, Problem
from knowledge.seed import seed_knowledge

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def seeded():
    seed_knowledge()


def run_agent(agent_cls, rounds: int = 3) -> None:
    runner = AgentRunner(agent_cls())
    for _ in range(rounds):
        runner.run_once(block_ms=50)


def import_failed(n: int = 0, **payload):
    body = {
        "import_id": f"imp-{n}",
        "user_id": f"user-{n % 7}",
        "source": "chrome",
        "error": "Timeout after 30s while inserting bookmarks batch into database",
        "error_type": "ImportTimeout",
        "bookmark_count": 52000,
        "batch_size": 1000,
        **payload,
    }
    return parse_event(
        {"type": "import.failed", "source": "bookmarks", "instance": "web-1",
         "severity": "error", "payload": body}
    )  # fmt: skip


def test_a_large_import_timeout_is_diagnosed_as_import_timeout(seeded):
    mesh.publish_many([import_failed(i) for i in range(40)])

    run_agent(BookmarkDiagnosticAgent)

    [diagnosis] = Diagnosis.objects.all()
    assert diagnosis.signal == "import_timeout"
    assert diagnosis.confidence >= 0.6
    assert diagnosis.event_count == 40  # a burst is one diagnosis, with all its evidence
    assert diagnosis.problem.occurrence_count == 40
    assert diagnosis.problem.category == "import"
    assert any(s["action"] == "retry_with_smaller_batch" for s in diagnosis.suggestions)
    kinds = {e["kind"] for h in diagnosis.hypotheses for e in h["evidence"]}
    assert {"similar-problem", "workload"} <= kinds
    [ready] = list(mesh.replay("diagnosis.ready"))
    assert ready.event.payload["diagnosis"] == diagnosis.pk
    assert ready.event.payload["signal"] == "import_timeout"


def test_a_deploy_shortly_before_is_part_of_the_evidence(seeded):
    deploy = parse_event(
        {"type": "deploy.finished", "source": "bookmarks", "payload": {"version": "2.4.1"}}
    )
    mesh.publish(deploy)
    mesh.publish(import_failed())

    run_agent(BookmarkDiagnosticAgent)

    diagnosis = Diagnosis.objects.get()
    changes = [h for h in diagnosis.hypotheses if h["kind"] == "recent-change"]
    assert changes and "2.4.1" in changes[0]["cause"]
    assert changes[0]["evidence"][0]["event"] == deploy.id


def test_error_log_lines_become_problems_and_info_lines_do_not(seeded):
    lines = [
        parse_event({"type": "log.line", "source": "bookmarks", "payload": {
            "level": "ERROR",
            "message": "psycopg.errors.UniqueViolation: duplicate key value violates unique "
                       f"constraint \"bookmarks_user_url_key\" DETAIL: Key (user_id, url)=({i}, "
                       f"https://example.com/{i}) already exists."}})
        for i in range(5)
    ] + [parse_event({"type": "log.line", "source": "bookmarks",
                      "payload": {"level": "INFO", "message": "import finished"}})]  # fmt: skip
    before = Problem.objects.count()
    mesh.publish_many(lines)

    run_agent(BookmarkDiagnosticAgent)

    assert Problem.objects.count() == before + 1  # five sightings, one fingerprint
    diagnosis = Diagnosis.objects.get()
    assert diagnosis.signal == "duplicate_bookmarks"
    assert diagnosis.problem.category == "data-integrity"


@pytest.mark.parametrize(
    ("message", "event_type", "category"),
    [
        ("Timeout after 30s", "import.failed", "import"),
        ("duplicate key value violates unique constraint", "log.line", "data-integrity"),
        ("OOM killer: out of memory", "log.line", "capacity"),
        ("SSL: CERTIFICATE_VERIFY_FAILED certificate has expired", "log.line", "security"),
        ("connection refused to redis:6379", "log.line", "availability"),
        ("something odd", "log.line", "other"),
    ],
)
def test_errors_are_categorised_by_their_words(message, event_type, category):
    assert classify_error(message, event_type)[0] == category


def test_only_error_levels_of_log_lines_are_errors():
    info = parse_event(
        {"type": "log.line", "source": "s", "payload": {"level": "info", "message": "ok"}}
    )
    assert error_text(info) is None


def test_an_anomaly_is_diagnosed_against_the_problem_the_monitor_recorded(seeded):
    from django.utils import timezone

    from agents.models import Anomaly, AnomalyDetector

    problem = Problem.objects.get(signal="import_timeout")
    now = timezone.now()
    anomaly = Anomaly.objects.create(
        series="imports.failed", detector=AnomalyDetector.values[0], category="import",
        severity="error", score=0.9, value=40, window_start=now, window_end=now,
        problem=problem,
    )  # fmt: skip
    before = Problem.objects.count()
    mesh.publish(anomaly_event(anomaly))

    run_agent(BookmarkDiagnosticAgent)

    diagnosis = Diagnosis.objects.get()
    assert diagnosis.problem == problem  # no second problem for the same anomaly
    assert Problem.objects.count() == before
    assert diagnosis.signal == "import_timeout"


def test_a_batch_handled_again_after_a_crash_counts_each_event_once(seeded):
    # A worker that dies after the sightings commit but before the acknowledgement: the
    # batch comes back (reclaimed by another worker, or replayed after an outage).
    events = [import_failed(i) for i in range(30)]
    agent = BookmarkDiagnosticAgent()
    deliveries = [
        mesh.Delivery("events:import.failed", f"1-{i}", e.id, e.to_json_bytes())
        for i, e in enumerate(events)
    ]

    agent.handle(deliveries)
    agent.handle(deliveries[10:])  # redelivered in part, as a reclaim page would be

    problem = Diagnosis.objects.get().problem
    problem.refresh_from_db()
    assert problem.occurrence_count == 30
    assert sum(problem.occurrences.values_list("count", flat=True)) == 30
