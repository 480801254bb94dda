"""BookmarkMonitorAgent: rollups from real events through the mesh, finalisation, anomalies.

Events go through the real mesh and the agent's own consumer loop (``AgentRunner``, driven
in-process); one test runs the agent inside a real Celery worker. Minutes are closed with an
injected clock, so hours of traffic replay in seconds.
"""

from __future__ import annotations

import math
import random
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.db import connection

from agents import mesh
from agents.events import Event, parse_event
from agents.models import Anomaly, AnomalyDetector, MetricPoint, MetricSeries
from agents.monitor import fast_path, history, store
from agents.monitor.agent import BookmarkMonitorAgent
from agents.monitor.detector import ALERT_SCORE
from agents.monitor.finaliser import GRACE_SECONDS
from agents.monitor.histogram import PERCENTILE_ERROR, bucket_index, percentile
from agents.monitor.rollups import Rollups
from agents.runtime import AgentRunner
from knowledge.models import Occurrence
from tests.support import process_env

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db(transaction=True)

# A Monday 09:00 UTC, minute-aligned, far enough back that replayed minutes are all closed.
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def event(kind: str, at: datetime, **payload: object) -> Event:
    return parse_event(
        {"type": kind, "source": "bookmarks", "timestamp": at.isoformat(), "payload": payload}
    )


def api(at: datetime, latency: float, *, endpoint: str = "/api/bookmarks", status: int = 200):
    return event(
        "api.request", at, method="GET", endpoint=endpoint, status=status, latency_ms=latency
    )


def drain(runner: AgentRunner) -> int:
    """Run the agent's consumer loop until the streams are empty."""
    handled = idle = 0
    while idle < 2:
        count = runner.run_once(block_ms=20)
        handled += count
        idle = idle + 1 if count == 0 else 0
    return handled


def new_runner(clock_at: datetime | None = None) -> tuple[AgentRunner, BookmarkMonitorAgent]:
    clock = (lambda: clock_at.timestamp()) if clock_at else time.time
    agent = BookmarkMonitorAgent(rollups=Rollups(clock=clock))
    return AgentRunner(agent, consumer=f"test-{id(agent)}"), agent


def closed(minute: datetime) -> float:
    """A clock reading at which ``minute`` (and every minute before it) is closed."""
    return (minute + timedelta(minutes=1, seconds=GRACE_SECONDS)).timestamp()


def value(name: str, minute: datetime) -> float:
    return MetricPoint.objects.get(series__name=name, minute=minute).value


def exact_percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


# --- Histograms ---------------------------------------------------------------------------------


def test_histogram_percentiles_are_within_the_bucket_error_bound():
    rng = random.Random(7)
    samples = [rng.lognormvariate(3.0, 1.2) for _ in range(5000)]
    histogram: dict[int, float] = {}
    for sample in samples:
        histogram[bucket_index(sample)] = histogram.get(bucket_index(sample), 0) + 1
    for q in (0.5, 0.95, 0.99):
        exact = exact_percentile(samples, q)
        assert abs(percentile(histogram, q) - exact) / exact <= PERCENTILE_ERROR + 1e-9


# --- Rollups ------------------------------------------------------------------------------------


def test_rollups_from_events_through_the_mesh():
    minute = START
    at = [minute + timedelta(seconds=s % 60) for s in range(300)]
    latencies = {"/api/bookmarks": [], "/api/search": []}
    events = [event("bookmark.created", at[i], user_id=f"u{i % 9}") for i in range(30)]
    events += [
        event("import.started", at[i], import_id=f"i{i}", user_id="u1", source="chrome",
              bookmark_count=100)
        for i in range(10)
    ]  # fmt: skip
    events += [
        event("import.completed", at[i], import_id=f"i{i}", bookmark_count=100, imported=100,
              duration_ms=900.0)
        for i in range(7)
    ]  # fmt: skip
    events += [event("import.failed", at[i], import_id=f"f{i}", error="Timeout") for i in range(3)]
    rng = random.Random(1)
    for i in range(200):
        endpoint = "/api/bookmarks" if i % 4 else "/api/search"
        latency = rng.lognormvariate(3.5, 0.6)
        latencies[endpoint].append(latency)
        events.append(api(at[i], latency, endpoint=endpoint, status=500 if i < 5 else 200))
    db_times = [rng.uniform(0.5, 20.0) for _ in range(50)]
    events += [event("db.query", at[i], operation="SELECT", duration_ms=d)
               for i, d in enumerate(db_times)]  # fmt: skip
    events += [event("user.activity", at[i], user_id="u42", action="login") for i in range(4)]
    events += [
        event("bookmark.searched", at[i], user_id="u42", query="rust", results=3, latency_ms=40.0)
        for i in range(25)
    ]
    events += [
        event("metric.sample", at[i], name="queue_depth", value=float(v), labels={"q": "imports"})
        for i, v in enumerate((4, 6))
    ]
    mesh.publish_many(events)

    runner, agent = new_runner(clock_at=datetime.fromtimestamp(closed(minute), UTC))
    assert drain(runner) == len(events)
    assert agent.rollups.finalise() == [int(minute.timestamp()) // 60]

    assert value("bookmarks.created", minute) == 30
    assert value("imports.started", minute) == 10
    assert value("imports.completed", minute) == 7
    assert value("imports.failed", minute) == 3
    assert value("imports.failure_rate", minute) == pytest.approx(0.3)
    assert value("api.requests", minute) == 200
    assert value("api.error_rate", minute) == pytest.approx(5 / 200)
    assert value("api.requests{endpoint=/api/search}", minute) == 50
    assert value("users.active", minute) == 10  # u0..u8, u42 (HyperLogLog, exact when small)
    assert value("users.actions", minute) == 30 + 10 + 4 + 25
    assert value("search.requests", minute) == 25
    assert value("search.latency_p50", minute) == pytest.approx(40.0, rel=PERCENTILE_ERROR)
    assert value("metric.queue_depth{q=imports}", minute) == 5.0
    everything = latencies["/api/bookmarks"] + latencies["/api/search"]
    for name, samples in (
        ("api.latency_p95", everything),
        ("api.latency_p50", everything),
        ("api.latency_p99{endpoint=/api/bookmarks}", latencies["/api/bookmarks"]),
        ("db.query_p95", db_times),
    ):
        q = {"p50": 0.5, "p95": 0.95, "p99": 0.99}[name.partition("{")[0][-3:]]
        exact = exact_percentile(samples, q)
        assert abs(value(name, minute) - exact) / exact <= PERCENTILE_ERROR + 1e-9, name
    assert MetricSeries.objects.get(name="api.latency_p95").unit == "ms"
    assert not Anomaly.objects.exists()  # three failures are not a burst


def test_each_minute_is_finalised_exactly_once_by_two_runners():
    minutes = [START + timedelta(minutes=m) for m in range(6)]
    mesh.publish_many(
        [event("bookmark.created", m + timedelta(seconds=s), user_id="u") for m in minutes
         for s in range(3)]
    )  # fmt: skip
    first, _ = new_runner()
    drain(first)
    clock = closed(minutes[-1])
    workers = [Rollups(clock=lambda: clock), Rollups(clock=lambda: clock)]
    barrier = threading.Barrier(2)
    done: list[list[int]] = [[], []]

    def finalise(index: int) -> None:
        barrier.wait()
        for _ in range(5):
            done[index].extend(workers[index].finalise())
        connection.close()

    threads = [threading.Thread(target=finalise, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(done[0] + done[1]) == [int(m.timestamp()) // 60 for m in minutes]
    points = MetricPoint.objects.filter(series__name="bookmarks.created")
    assert [p.value for p in points.order_by("minute")] == [3.0] * 6

    # A late event re-opens its minute: the point is corrected, the detector not fed twice.
    mesh.publish(event("bookmark.created", minutes[0] + timedelta(seconds=59), user_id="u"))
    drain(first)
    assert workers[0].finalise() == [int(minutes[0].timestamp()) // 60]
    assert value("bookmarks.created", minutes[0]) == 4
    assert workers[1].finalise() == []


# --- Anomalies ----------------------------------------------------------------------------------


def steady_minute(minute: datetime, rng: random.Random, *, latency_scale: float = 1.0) -> list:
    """A healthy minute of a daily cycle: traffic follows the hour, with Poisson-like noise."""
    hour = minute.hour + minute.minute / 60
    level = 1.0 + 0.5 * math.sin(2 * math.pi * hour / 24)
    events = []
    for i in range(int(20 * level) + rng.randint(-2, 2)):
        at = minute + timedelta(seconds=(i * 7) % 60)
        status = 500 if rng.random() < 0.01 else 200
        events.append(api(at, rng.lognormvariate(3.0, 0.3) * latency_scale, status=status))
    for i in range(int(4 * level) + rng.randint(0, 2)):
        events.append(event("bookmark.created", minute + timedelta(seconds=5 * i), user_id=f"u{i}"))
    events.append(
        event("import.started", minute, import_id=str(minute), user_id="u1", source="chrome",
              bookmark_count=50)
    )  # fmt: skip
    if rng.random() < 0.1:
        events.append(event("import.failed", minute + timedelta(seconds=30), import_id="x",
                            error="Timeout after 30s"))  # fmt: skip
    else:
        events.append(event("import.completed", minute + timedelta(seconds=30), import_id="x",
                            bookmark_count=50, imported=50, duration_ms=400.0))  # fmt: skip
    return events


def test_a_burst_of_import_failures_raises_one_anomaly_a_problem_and_an_event():
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    rng = random.Random(3)
    history = [now - timedelta(minutes=m) for m in range(6, 0, -1)]
    mesh.publish_many([e for m in history for e in steady_minute(m, rng)])
    burst_at = now + timedelta(seconds=20)
    mesh.publish_many(
        [
            event("import.failed", burst_at + timedelta(milliseconds=40 * i), import_id=f"b{i}",
                  error="Timeout after 30s while inserting batch", source="chrome")
            for i in range(40)
        ]
    )  # fmt: skip
    runner, _ = new_runner()
    drain(runner)

    [anomaly] = Anomaly.objects.all()
    assert anomaly.series == "imports.failed"
    assert anomaly.detector == AnomalyDetector.BURST
    assert anomaly.score >= ALERT_SCORE
    assert anomaly.category == "import"
    assert anomaly.evidence["count"] >= 5 and anomaly.evidence["event_ids"]
    assert anomaly.problem is not None and anomaly.problem.category == "import"
    assert Occurrence.objects.filter(problem=anomaly.problem).exists()
    [announced] = [d.event for d in mesh.replay("anomaly.detected")]
    assert announced.payload["series"] == "imports.failed"
    assert announced.payload["anomaly_id"] == anomaly.pk
    assert announced.payload["problem_id"] == anomaly.problem_id


def _failures(at: datetime, tag: str) -> list:
    return [event("import.failed", at + timedelta(milliseconds=40 * i), import_id=f"{tag}{i}",
                  error="Timeout after 30s while inserting batch", source="chrome")
            for i in range(40)]  # fmt: skip


@pytest.mark.parametrize(("quiet_between", "anomalies"), [(True, 2), (False, 1)])
def test_a_burst_cooldown_ends_once_the_series_is_quiet_again(
    quiet_between, anomalies, monkeypatch
):
    monkeypatch.setattr(fast_path, "LATENCY_CHECK_SECONDS", 0.0)  # the re-arm runs every batch
    monkeypatch.setattr(fast_path, "REARM_AFTER_SECONDS", 0)
    base = datetime.now(UTC).replace(second=0, microsecond=0)
    rng = random.Random(4)
    mesh.publish_many(
        [e for m in range(6, 0, -1) for e in steady_minute(base - timedelta(minutes=m), rng)]
    )
    runner, _ = new_runner()
    mesh.publish_many(_failures(base + timedelta(seconds=5), "a"))
    drain(runner)
    if quiet_between:  # healthy requests long after the burst: its window is empty of failures
        mesh.publish_many([api(base + timedelta(seconds=25, milliseconds=50 * i), 20.0)
                           for i in range(30)])  # fmt: skip
        drain(runner)
    second = base + timedelta(seconds=40 if quiet_between else 8)
    mesh.publish_many(_failures(second, "b"))
    drain(runner)

    assert Anomaly.objects.filter(series="imports.failed").count() == anomalies


def test_steady_seasonal_traffic_raises_nothing_and_a_latency_shift_is_found():
    rng = random.Random(11)
    minutes = [START + timedelta(minutes=m) for m in range(200)]
    mesh.publish_many([e for m in minutes for e in steady_minute(m, rng)])
    runner, agent = new_runner()
    drain(runner)
    assert len(agent.rollups.finalise(now=closed(minutes[-1]))) == 200

    assert not Anomaly.objects.exists()
    assert MetricPoint.objects.filter(series__name="bookmarks.created").count() == 200
    by_hour = history.activity_by_hour_of_week()
    assert set(by_hour) == {(1, h) for h in range(9, 13)}  # Monday 09:00-12:19

    slow = minutes[-1] + timedelta(minutes=1)
    mesh.publish_many(steady_minute(slow, rng, latency_scale=8.0))
    drain(runner)
    agent.rollups.finalise(now=closed(slow))
    found = Anomaly.objects.filter(detector=AnomalyDetector.MINUTE)
    assert {a.series for a in found} & {"api.latency_p50", "api.latency_p95", "api.latency_mean"}
    anomaly = found.filter(series__startswith="api.latency").first()
    assert anomaly.category == "performance"
    assert anomaly.window_start == slow
    assert anomaly.value > anomaly.expected_high
    assert len(anomaly.evidence["points"]) > 1


def _creep_second(at: datetime, rng: random.Random, scale: float) -> list:
    return [api(at + timedelta(milliseconds=100 * i), rng.lognormvariate(3.0, 0.3) * scale)
            for i in range(8)]  # fmt: skip


@pytest.mark.parametrize(
    ("scales", "raised"),
    [
        # Latency creeping from 1.8x to 2.7x, second after second: a sustained shift, its
        # window mean (2.25x) well under the 3x jump ratio and every second over 1.6x.
        ([1.8 + 0.1 * s for s in range(10)], True),
        # The same 2x in only three seconds (a GC pause, a noisy neighbour): nothing.
        ([1.0] * 7 + [2.2] * 3, False),
        # Healthy noise around the baseline: nothing.
        ([1.0] * 10, False),
    ],
)
def test_the_fast_path_finds_a_sustained_latency_creep_below_the_jump_ratio(
    scales, raised, monkeypatch
):
    now = datetime.now(UTC).replace(microsecond=0)
    rng = random.Random(5)
    # Six minutes at the creep's own rate: a creep at the usual load, not a surge (a surge
    # the app serves without errors is load; see test_monitor_load.py).
    first = now.replace(second=0) - timedelta(minutes=6)
    mesh.publish_many([e for s in range(360)
                       for e in _creep_second(first + timedelta(seconds=s), rng, 1.0)])  # fmt: skip
    start = now.replace(second=0) + timedelta(seconds=20)
    seconds = [start + timedelta(seconds=i) for i in range(len(scales))]
    mesh.publish_many([e for at, scale in zip(seconds, scales, strict=True)
                       for e in _creep_second(at, rng, scale)])  # fmt: skip
    monkeypatch.setattr(fast_path, "LATENCY_CHECK_SECONDS", 0.0)  # check every batch
    runner, _ = new_runner()
    drain(runner)

    found = Anomaly.objects.filter(series=fast_path.LATENCY_SERIES)
    assert found.exists() is raised
    if raised:
        anomaly = found.get()
        assert anomaly.evidence["kind"] == "sustained"
        assert anomaly.evidence["ratio"] < fast_path.LATENCY_RATIO
        assert anomaly.evidence["seconds_above"] >= fast_path.SUSTAINED_SECONDS
        assert anomaly.score >= ALERT_SCORE


# --- In a real worker ---------------------------------------------------------------------------


BOOKMARK_AGENTS = "agents.monitor.agent,agents.diagnostic.agent,agents.learning.agent"


def start_worker() -> subprocess.Popen:
    env = process_env(
        AGENT_MODULES="agents.monitor.agent,agents.diagnostic.agent,agents.learning.agent",
        AGENT_HEARTBEAT_SECONDS="1",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "aiops_site", "worker", "-P", "solo",
         "--hostname", "monitor@test", "--without-gossip", "--without-mingle",
         "--without-heartbeat", "--loglevel", "WARNING"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def test_a_real_worker_detects_a_failure_burst_within_a_second():
    worker = start_worker()
    try:
        deadline = time.monotonic() + 60
        mesh.publish(api(datetime.now(UTC), 10.0))
        while not MetricSeries.objects.exists() and not _pending():
            assert worker.poll() is None, worker.stderr.read().decode()[-3000:]
            assert time.monotonic() < deadline, "the worker never consumed"
            time.sleep(0.1)
        published = time.monotonic()
        now = datetime.now(UTC)
        mesh.publish_many(
            [event("import.failed", now, import_id=f"b{i}", error="Timeout") for i in range(10)]
        )
        while not Anomaly.objects.exists():
            assert worker.poll() is None, worker.stderr.read().decode()[-3000:]
            assert time.monotonic() - published < 10, "no anomaly"
            time.sleep(0.02)
        assert time.monotonic() - published < 1.5  # polling adds a little to the true latency
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                worker.kill()
    assert Anomaly.objects.get().series == "imports.failed"


def _pending() -> bool:
    from core.redis import get_redis

    return bool(get_redis().hlen(store.PENDING_KEY))
