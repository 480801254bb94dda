"""The simulator's process: its web tier through the SDK middleware, and a short run of the
whole thing (traffic, imports, registry, a fault, its remediation over the control API)."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest

from agents.models import Service
from remediation.actions import control as control_client
from simulator.deployment import SERVICES
from simulator.import_worker import import_size
from simulator.models import FaultInjection
from simulator.runner import Simulator
from simulator.workload import seasonality
from tests.simulator.conftest import events, wait_for

Simulators = Callable[..., Simulator]


def _one(items: list, **match: object) -> object:
    found = [i for i in items if all(i.payload.get(k) == v for k, v in match.items())]
    assert len(found) == 1, f"{len(found)} events match {match}"
    return found[0]


@pytest.mark.django_db
def test_requests_report_route_patterns_through_the_sdk_middleware(simulators: Simulators) -> None:
    sim = simulators(seed=1)
    search = sim.web.request("GET", "/api/search/", user="u1", params={"q": "x"})
    created = sim.web.request(
        "POST", "/api/bookmarks/", user="u2",
        params={"url": "https://docs.python.org/3/", "tags": "work,python"},
    )  # fmt: skip
    detail = sim.web.request("GET", "/api/bookmarks/4711/", user="u3")
    assert (search.status_code, created.status_code, detail.status_code) == (200, 201, 200)
    assert sim.flush()

    requests = events("api.request")
    assert len(requests) == 3
    assert {(e.source, e.instance) for e in requests} == {("bookmarks", "bookmarks-1")}
    got = _one(requests, endpoint="/api/search/")
    assert got.payload["method"] == "GET" and got.payload["status"] == 200
    assert got.payload["user_id"] == "u1" and got.payload["latency_ms"] > 0
    got = _one(requests, endpoint="/api/bookmarks/")
    assert (got.payload["method"], got.payload["status"], got.payload["user_id"]) == (
        "POST", 201, "u2",
    )  # fmt: skip
    got = _one(requests, endpoint="/api/bookmarks/<int:pk>/")
    assert got.payload["user_id"] == "u3" and got.payload["status"] == 200
    assert all(e.severity == "info" for e in requests)

    (bookmark,) = events("bookmark.created")
    assert bookmark.payload["user_id"] == "u2"
    assert bookmark.payload["url"] == "https://docs.python.org/3/"
    assert bookmark.payload["tags"] == ["work", "python"]
    (searched,) = events("bookmark.searched")
    assert searched.payload["query"] == "x" and searched.payload["user_id"] == "u1"
    assert events("log.line") == []
    # One query per request, timed as a share of the request it served.
    queries = events("db.query")
    assert sorted(q.payload["operation"] for q in queries) == ["insert", "select", "select"]
    assert all(q.payload["table"] == "bookmarks_bookmark" for q in queries)
    assert all(q.payload["duration_ms"] > 0 for q in queries)


@pytest.mark.django_db
def test_a_session_store_outage_fails_signed_in_requests_and_logs_why(
    simulators: Simulators,
) -> None:
    sim = simulators(seed=1)
    record = sim.inject("redis_outage", label="test")
    assert (record.root_cause, record.service, record.correct_remediation) == (
        "session_store_down", "bookmarks", "toggle_feature_flag",
    )  # fmt: skip
    response = sim.web.request("GET", "/api/bookmarks/", user="u9")
    assert response.status_code == 500
    assert sim.flush()

    (request,) = events("api.request")
    assert request.payload["status"] == 500 and request.severity == "error"
    assert request.payload["endpoint"] == "/api/bookmarks/"
    (line,) = events("log.line")
    assert line.source == "bookmarks" and line.severity == "error"
    assert "redis.exceptions.ConnectionError" in line.payload["message"]
    assert line.payload["level"] == "ERROR"


@pytest.mark.django_db
def test_stop_returns_when_never_started(simulators: Simulators) -> None:
    sim = simulators(seed=5)
    stopping = threading.Thread(target=sim.stop, daemon=True)
    stopping.start()
    stopping.join(timeout=3)  # nothing to flush: closing takes milliseconds
    assert not stopping.is_alive()


def test_workload_shape() -> None:
    rng = random.Random(3)  # noqa: S311
    sizes = [import_size(rng) for _ in range(5000)]
    assert min(sizes) >= 10 and max(sizes) < 100_000
    assert sum(s < 1000 for s in sizes) > 0.45 * len(sizes)  # log-uniform: half under 1,000
    monday = datetime(2026, 3, 2, tzinfo=UTC)
    assert seasonality(monday.replace(hour=16)) == pytest.approx(1.0)
    assert seasonality(monday.replace(hour=4)) == pytest.approx(0.35)
    assert seasonality(monday.replace(day=7, hour=16)) == pytest.approx(0.7)  # Saturday


@pytest.mark.django_db(transaction=True)
def test_a_short_run_from_fault_to_remediation(simulators: Simulators) -> None:
    sim = simulators(seed=2, rate=30).start()

    # It reports as four registered services, with traffic and imports flowing.
    registered = dict(Service.objects.filter(name__in=SERVICES).values_list("name", "control_url"))
    assert registered == {s: sim.control.control_url(s) for s in SERVICES}
    assert all(url.startswith(sim.control.root_url + "/svc/") for url in registered.values())
    wait_for(lambda: len(events("api.request")) >= 20, 10, "20 api.request events")
    wait_for(lambda: events("import.started"), 5, "an import.started event")
    assert httpx.get(f"{registered['search']}/control/health").json()["status"] == "healthy"

    record = sim.inject("large_chrome_import", label="test")
    row = FaultInjection.objects.get(pk=record.pk)
    assert (row.scenario, row.root_cause, row.service, row.run_label) == (
        "large_chrome_import", "import_timeout", "import-worker", "test",
    )  # fmt: skip
    assert row.recovered_at is None and row.fixed_by == ""

    failed = wait_for(
        lambda: [
            e for e in events("import.failed") if e.payload["error_type"] == "SoftTimeLimitExceeded"
        ],
        15,
        "a timed-out import",
    )
    assert failed[0].source == "import-worker" and failed[0].severity == "error"
    assert failed[0].payload["source"] == "chrome"
    assert failed[0].payload["batch_size"] == min(8000, failed[0].payload["bookmark_count"])
    assert sim.world.faulty() == ["import_timeout"]
    assert not FaultInjection.objects.get(pk=record.pk).recovered_at

    answer = control_client.call(
        "import-worker", "retry_import",
        {"run": 1, "instance": "import-worker-1", "params": {"batch_size": 500}}, run_id=1,
    )  # fmt: skip
    assert answer["ok"] is True and answer["batch_size"] == 500 and answer["retried"] >= 1

    recovered = wait_for(
        lambda: FaultInjection.objects.filter(pk=record.pk).exclude(recovered_at=None).first(),
        5,
        "the injection marked recovered",
    )
    assert recovered.fixed_by == "control-api"
    assert sim.world.faulty() == []

    def retried_and_completed() -> list:
        failed_ids = {e.payload["import_id"] for e in events("import.failed")}
        completed = events("import.completed")
        return [
            e
            for e in completed
            if e.payload["import_id"] in failed_ids and e.payload["batch_size"] == 500
        ]

    done = wait_for(retried_and_completed, 10, "a retried import completing")
    # Only Chrome exports over 5,000 bookmarks outlast the 30 s limit in one batch.
    assert done[0].payload["imported"] == done[0].payload["bookmark_count"] > 5000
    assert done[0].payload["source"] == "chrome"
