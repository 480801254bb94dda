"""The monitor agent in real Celery workers: detection latency and throughput (issue 5).

(a) **Detection latency**: one worker runs the agents; 1,000 background events/s
(``api.request``, ``bookmark.created``) flow for ``BENCH_DETECT_SECONDS``; every
``BENCH_BURST_EVERY`` seconds a burst of import failures is published, and the time from the
burst's publication to its Anomaly row (and Problem occurrence) being visible in PostgreSQL
is measured. Between bursts the monitor's burst memory (its cooldown and 10-second window
counters) is cleared, so each burst is a fresh incident rather than "more of the same".

(b) **Throughput**: ``BENCH_AGENT_EVENTS`` events through the monitor's ``handle`` with 1 and
with 2 worker processes, beside the raw XREADGROUP + XACK loop on the same streams.

Workers use a scratch Redis database (``BENCH_REDIS_DB``, default 14) and a scratch
PostgreSQL database (created, migrated and dropped here), so a running stack's data and the
knowledge graph are left alone.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlparse, urlunparse

import psutil
import redis
from django.conf import settings
from django.db import connection
from django.test import override_settings

from agents import mesh
from agents.events import Event, parse_event, stream_name
from agents.models import Anomaly
from agents.monitor import store

ROOT = Path(__file__).resolve().parents[1]
BENCH_DB = int(os.environ.get("BENCH_REDIS_DB", "14"))
RATE = int(os.environ.get("BENCH_BACKGROUND_RATE", "1000"))
DETECT_SECONDS = float(os.environ.get("BENCH_DETECT_SECONDS", "20"))
BURST_EVERY = float(os.environ.get("BENCH_BURST_EVERY", "2"))
BURST_SIZE = 10
EVENTS = int(os.environ.get("BENCH_AGENT_EVENTS", "100000"))
AGENT = "bookmark-monitor"
ENDPOINTS = ("/api/bookmarks", "/api/bookmarks/{id}", "/api/search", "/api/imports", "/api/tags")


def _redis_url() -> str:
    return urlunparse(urlparse(settings.REDIS_URL)._replace(path=f"/{BENCH_DB}"))


def _background(rng: random.Random, count: int) -> list[Event]:
    """API requests (0.5 % of them 5xx) and bookmark creations, timestamped now."""
    now = datetime.now(UTC).isoformat()
    events = []
    for _ in range(count):
        if rng.random() < 0.8:
            payload = {
                "method": "GET",
                "endpoint": rng.choice(ENDPOINTS),
                "status": 500 if rng.random() < 0.005 else 200,
                "latency_ms": rng.lognormvariate(3.0, 0.5),
                "user_id": f"u{rng.randrange(500)}",
            }
            kind = "api.request"
        else:
            payload = {"user_id": f"u{rng.randrange(500)}", "url": "https://example.com/x"}
            kind = "bookmark.created"
        events.append(
            parse_event({"type": kind, "source": "bookmarks", "timestamp": now, "payload": payload})
        )
    return events


def _burst(index: int) -> list[Event]:
    return [
        parse_event(
            {
                "type": "import.failed",
                "source": "bookmarks",
                "payload": {
                    "import_id": f"burst-{index}-{i}",
                    "source": "chrome",
                    "error": "Timeout after 30s while inserting batch",
                },
            }
        )
        for i in range(BURST_SIZE)
    ]


# --- Workers --------------------------------------------------------------------------------------


def _start_worker(name: str) -> subprocess.Popen:
    db = connection.settings_dict
    port = f":{db['PORT']}" if db.get("PORT") else ""
    env = dict(
        os.environ,
        DATABASE_URL=f"postgresql://{db['USER']}@{quote(db['HOST'], safe='')}{port}/{db['NAME']}",
        REDIS_URL=_redis_url(),
        SECRET_KEY=settings.SECRET_KEY,
        AGENT_MODULES="agents.monitor.agent,agents.diagnostic.agent,agents.learning.agent",
        AGENT_HEARTBEAT_SECONDS="1",
        LOG_LEVEL="ERROR",
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "aiops_site", "worker", "-P", "solo",
         "--hostname", f"{name}@bench", "--without-gossip", "--without-mingle",
         "--without-heartbeat", "--loglevel", "ERROR"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def _stop(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(5)


def _wait_ready(client: redis.Redis, workers: list[subprocess.Popen], timeout: float = 60) -> None:
    """Until every worker's monitor loop has beaten once (its consumer is in the group)."""
    deadline = time.monotonic() + timeout
    while client.hlen(f"aiops:agent-workers:{AGENT}") < len(workers):
        for worker in workers:
            if worker.poll() is not None:
                raise RuntimeError(worker.stderr.read().decode()[-3000:])
        if time.monotonic() > deadline:
            raise RuntimeError("workers did not start")
        time.sleep(0.1)


def _handled(client: redis.Redis) -> int:
    """Events the monitor has added to its rollups (its per-minute counts sum to them)."""
    return sum(int(v) for v in client.hvals(store.PENDING_KEY))


def _forget_bursts(client: redis.Redis) -> None:
    """Make the next burst a fresh incident: drop the cooldown, the per-second window counters
    and the failures counted in the minutes (otherwise they become the baseline, rightly)."""
    client.delete(f"{store.PREFIX}:cooldown:imports.failed")
    keys = list(client.scan_iter(f"{store.PREFIX}:s:*"))
    if keys:
        client.delete(*keys)
    for key in client.scan_iter(f"{store.PREFIX}:m:*:core"):
        client.hdel(key, "imports.failed")


# --- (a) Detection latency ------------------------------------------------------------------------


def bench_detection(client: redis.Redis) -> None:
    client.flushdb()
    Anomaly.objects.all().delete()
    workers = [_start_worker("latency")]
    stop = threading.Event()
    published = 0

    def background() -> None:
        nonlocal published
        rng = random.Random(1)
        tick = 0.01
        started = time.perf_counter()
        while not stop.is_set():
            mesh.publish_many(_background(rng, int(RATE * tick)), client=client)
            published += int(RATE * tick)
            pause = started + published / RATE - time.perf_counter()
            if pause > 0:
                time.sleep(pause)

    latencies: list[float] = []
    missed = 0
    try:
        _wait_ready(client, workers)
        loader = threading.Thread(target=background, daemon=True)
        loader.start()
        time.sleep(min(3.0, BURST_EVERY))  # the baseline: background traffic only
        started = time.monotonic()
        index = 0
        while time.monotonic() - started < DETECT_SECONDS:
            seen = Anomaly.objects.count()
            burst = _burst(index)
            sent = time.perf_counter()
            mesh.publish_many(burst, client=client)
            while Anomaly.objects.count() == seen and time.perf_counter() - sent < 5:
                time.sleep(0.002)
            if Anomaly.objects.count() > seen:
                latencies.append((time.perf_counter() - sent) * 1000)
            else:
                missed += 1
            _forget_bursts(client)
            index += 1
            time.sleep(max(0.0, BURST_EVERY - (time.perf_counter() - sent)))
        stop.set()
        loader.join()
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        _stop(workers)
    with_problem = Anomaly.objects.filter(problem__isnull=False).count()
    if not latencies:
        print(f"detection: no burst detected ({missed} missed)")
        return
    ms = sorted(latencies)
    p99 = ms[min(len(ms) - 1, math.ceil(0.99 * len(ms)) - 1)]
    print(
        f"detection latency (burst publish -> Anomaly + Problem stored), background "
        f"{published / (elapsed + min(3.0, BURST_EVERY)):,.0f} events/s: {len(ms)} bursts, "
        f"p50 {statistics.median(ms):.0f} ms, p99 {p99:.0f} ms, max {ms[-1]:.0f} ms "
        f"(target p99 < 1000 ms); missed {missed}; anomalies with a Problem: {with_problem}"
    )


# --- (b) Throughput -------------------------------------------------------------------------------


def _fill(client: redis.Redis, events: list[Event]) -> None:
    for offset in range(0, len(events), 1000):
        mesh.publish_many(events[offset : offset + 1000], client=client)


def _raw_consume(client: redis.Redis, streams: list[str], count: int) -> float:
    """The building block: XREADGROUP COUNT 100 + XACK, nothing else."""
    for stream in streams:
        client.xgroup_create(stream, "raw", id="0", mkstream=True)
    done = 0
    started = time.perf_counter()
    while done < count:
        response = client.xreadgroup("raw", "c", dict.fromkeys(streams, ">"), count=100, block=100)
        for stream, entries in response or []:
            ids = [entry_id for entry_id, _ in entries]
            client.xack(stream, "raw", *ids)
            done += len(ids)
    return count / (time.perf_counter() - started)


def _through_workers(client: redis.Redis, events: list[Event], processes: int) -> float:
    """Steady-state rate: the streams are filled first, and the rate is taken between 10 %
    and 90 % handled, so worker start-up and the last half-empty batches do not count."""
    client.flushdb()
    _fill(client, events)
    workers = [_start_worker(f"tp{i}") for i in range(processes)]
    low, high = int(0.1 * len(events)), int(0.9 * len(events))
    marks: dict[int, float] = {}
    cpu = _CpuSampler(workers)
    try:
        deadline = time.monotonic() + 300
        while len(marks) < 2:
            handled = _handled(client)
            for mark in (low, high):
                if handled >= mark and mark not in marks:
                    marks[mark] = time.perf_counter()
                    cpu.sample()
            for worker in workers:
                if worker.poll() is not None:
                    raise RuntimeError(worker.stderr.read().decode()[-3000:])
            if time.monotonic() > deadline:
                raise RuntimeError("the monitor did not catch up")
            time.sleep(0.005)
        rate = (high - low) / (marks[high] - marks[low])
        print(f"  {processes} worker(s): {rate:,.0f} events/s; CPU between the marks: {cpu}")
        return rate
    finally:
        _stop(workers)


class _CpuSampler:
    """CPU seconds used by the workers and by redis-server between two samples: on a small
    machine the figures only make sense beside them."""

    def __init__(self, workers: list[subprocess.Popen]) -> None:
        self.workers = [psutil.Process(w.pid) for w in workers]
        self.redis = [p for p in psutil.process_iter(["name"]) if p.info["name"] == "redis-server"]
        self.samples: list[tuple[float, float, float]] = []

    def _times(self, procs: list[psutil.Process]) -> float:
        total = 0.0
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                total += times.user + times.system
        return total

    def sample(self) -> None:
        self.samples.append(
            (time.perf_counter(), self._times(self.workers), self._times(self.redis))
        )

    def __str__(self) -> str:
        if len(self.samples) < 2:
            return "n/a"
        (t0, w0, r0), (t1, w1, r1) = self.samples[0], self.samples[-1]
        wall = t1 - t0
        return (
            f"workers {(w1 - w0) / wall:.0%}, redis-server {(r1 - r0) / wall:.0%} "
            f"of one core ({os.cpu_count()} cores)"
        )


def bench_throughput(client: redis.Redis) -> None:
    events = _background(random.Random(2), EVENTS)
    client.flushdb()
    _fill(client, events)
    streams = [stream_name(t) for t in ("api.request", "bookmark.created")]
    raw = _raw_consume(client, streams, len(events))
    one = _through_workers(client, events, 1)
    two = _through_workers(client, events, 2)
    print(
        f"throughput ({len(events):,} events, {os.cpu_count()} CPUs): raw XREADGROUP+XACK "
        f"{raw:,.0f}/s | monitor agent, 1 worker {one:,.0f}/s ({one / raw:.0%} of raw) | "
        f"2 workers {two:,.0f}/s ({two / one:.2f}x one worker)"
    )


# --- Scratch database ---------------------------------------------------------------------------


def main() -> None:
    client = redis.Redis.from_url(_redis_url())
    creation = connection.creation
    old_name = connection.settings_dict["NAME"]
    connection.settings_dict.setdefault("TEST", {})
    previous_test_name = connection.settings_dict["TEST"].get("NAME")
    connection.settings_dict["TEST"]["NAME"] = f"bench_{old_name}"
    creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        # The workers read this process's REDIS_URL from their environment; this process
        # publishes with an explicit client, and Django code here uses the scratch db too.
        with override_settings(REDIS_URL=_redis_url(), EVENT_STREAM_MAXLEN=10_000_000):
            _reset_redis_client()
            bench_detection(client)
            bench_throughput(client)
    finally:
        _reset_redis_client()
        client.flushdb()
        creation.destroy_test_db(old_name, verbosity=0)
        connection.settings_dict["TEST"]["NAME"] = previous_test_name


def _reset_redis_client() -> None:
    import core.redis as redis_client

    redis_client._client = None


if __name__ == "__main__":
    main()
