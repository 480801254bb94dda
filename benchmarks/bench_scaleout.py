"""Scale-out: 1, 2 and 4 Celery workers as separate "hosts" on one Redis and PostgreSQL.

Each worker is its own process group with its own Celery hostname (``scale<i>@bench-host-<i>``)
and joins every agent's consumer group, as a worker on another machine would. A realistic
mixed stream (requests, DB queries, log lines with errors, imports) goes through the HTTP
ingest for ``BENCH_SCALE_SECONDS``; then the figures:

- ingest rate while loading, and end-to-end throughput: events accepted / (load + drain),
  where drained means every group delivered and acknowledged everything;
- drain time: load stopped -> every consumer group caught up;
- monitor lag p99 under load: sampled every 0.25 s, the time gap between the newest entry
  and the monitor group's last delivered one: an event cannot be detected sooner;
- memory (RSS) per worker at the end of the load.

Then, in the same run, the mesh's publish and consume+ack paths beside raw redis-py
(``benchmarks/bench_mesh.py``). Uses the scratch Redis database of the benchmarks
(``BENCH_REDIS_DB``); on 2 shared cores keep it short (``BENCH_SCALE_WORKERS=1,2``).
"""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urlparse, urlunparse

import httpx
import psutil
import redis
from django.conf import settings
from django.test import override_settings
from tqdm import tqdm

from agents.models import ApiToken
from aiops_site.scrape_metrics import consumer_lag_seconds
from benchmarks.bench_ingest import _free_port, _wait_ready

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = int(os.environ.get("BENCH_REDIS_DB", "14"))
WORKER_COUNTS = [int(n) for n in os.environ.get("BENCH_SCALE_WORKERS", "1,2,4").split(",")]
SECONDS = float(os.environ.get("BENCH_SCALE_SECONDS", "10"))
CONNECTIONS = int(os.environ.get("BENCH_SCALE_CONNECTIONS", "2"))
WEB_PROCESSES = [int(n) for n in os.environ.get("BENCH_SCALE_WEB", "1").split(",")]
# uvicorn (the web process of `make run`, ASGI) or gunicorn (aiops_site/wsgi.py, sync workers)
SERVERS = os.environ.get("BENCH_SCALE_SERVER", "uvicorn").split(",")
BATCH = 500
DRAIN_TIMEOUT = 120.0
MONITOR_GROUP = "bookmark-monitor"


def _redis_url() -> str:
    return urlunparse(urlparse(settings.REDIS_URL)._replace(path=f"/{BENCH_DB}"))


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_VERSION"}
    env.update(
        DATABASE_URL=settings.DATABASE_URL, REDIS_URL=_redis_url(), SECRET_KEY=settings.SECRET_KEY,
        INGEST_RATE_LIMIT_PER_MINUTE="100000000", LOG_LEVEL="WARNING", LOG_FORMAT="text",
    )  # fmt: skip
    return env


def _event(rng: random.Random, n: int) -> dict:
    """60 % requests, 25 % DB queries, 10 % log lines (a fifth errors), 5 % imports."""
    roll = rng.random()
    if roll < 0.60:
        status = 500 if rng.random() < 0.02 else 200
        return {"type": "api.request", "instance": f"web-{n % 3}", "payload": {
            "method": "GET", "endpoint": "/bookmarks/", "status": status,
            "latency_ms": rng.lognormvariate(3, 0.5)}}  # fmt: skip
    if roll < 0.85:
        return {"type": "db.query", "payload": {
            "operation": "SELECT", "table": "bookmarks_bookmark",
            "duration_ms": rng.lognormvariate(1.5, 0.6), "rows": 20}}  # fmt: skip
    if roll < 0.95:
        error = rng.random() < 0.2
        message = "connection pool exhausted" if error else f"served page {n % 50}"
        return {"type": "log.line", "severity": "error" if error else "info", "payload": {
            "level": "ERROR" if error else "INFO", "message": message,
            "logger": "bookmarks.views"}}  # fmt: skip
    if roll < 0.99:
        return {"type": "import.completed", "payload": {
            "import_id": f"imp-{n}", "source": "chrome", "bookmark_count": 300,
            "imported": 300, "duration_ms": 900.0}}  # fmt: skip
    return {"type": "import.failed", "severity": "error", "payload": {
        "import_id": f"imp-{n}", "source": "chrome", "error": "Timeout after 30s",
        "bookmark_count": 25000, "batch_size": 1000}}  # fmt: skip


def _bodies(count: int = 8) -> list[bytes]:
    rng = random.Random(17)
    return [
        json.dumps({"events": [_event(rng, k * BATCH + i) for i in range(BATCH)]}).encode()
        for k in range(count)
    ]


def _start(argv: list[str], log: Path) -> subprocess.Popen:
    handle = open(log, "wb")  # noqa: SIM115  (kept by the child)
    return subprocess.Popen(argv, cwd=ROOT, env=_env(), stdout=handle, stderr=subprocess.STDOUT,
                            start_new_session=True)  # fmt: skip


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _backlog(client: redis.Redis) -> int:
    """Entries not yet delivered to, or not yet acknowledged by, some group (0: drained)."""
    lag = consumer_lag_seconds(client)
    pending = 0
    for stream, _group in lag:
        pending += sum(int(g["pending"]) for g in client.xinfo_groups(stream))
    return pending + sum(1 for seconds in lag.values() if seconds > 0)


def _tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process and its children, 0 once it is gone."""
    try:
        process = psutil.Process(pid)
        tree = [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for member in tree:
        try:
            times = member.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def _postgres_pid() -> int | None:
    """The embedded PostgreSQL's postmaster (its data folder is the socket folder here)."""
    folder = unquote(urlparse(settings.DATABASE_URL).hostname or "")
    for process in psutil.process_iter(["name", "cmdline"]):
        cmdline = process.info["cmdline"] or []
        if process.info["name"] == "postgres" and folder and folder in cmdline:
            return process.pid
    return None


class CpuMeter:
    """CPU seconds spent by each part of the run (web, workers, Redis, PostgreSQL, client)
    between start() and stop(): on shared cores the cost per event is steadier than a rate,
    and it answers what one machine could do at best."""

    def __init__(self, web: subprocess.Popen, workers: list[subprocess.Popen],
                 client: redis.Redis) -> None:  # fmt: skip
        self.web, self.workers, self.client = web, workers, client
        self.postgres = _postgres_pid()

    def _read(self) -> dict[str, float]:
        info = self.client.info("cpu")
        return {
            "ingest": _tree_cpu(self.web.pid),
            "agents": sum(_tree_cpu(p.pid) for p in self.workers),
            "redis": info["used_cpu_user"] + info["used_cpu_sys"],
            "postgres": _tree_cpu(self.postgres) if self.postgres else 0.0,
            "client": time.process_time(),
        }

    def start(self) -> None:
        self._started = self._read()

    def stop(self) -> dict[str, float]:
        ended = self._read()
        return {name: ended[name] - self._started[name] for name in ended}


def _rss_mb(proc: subprocess.Popen) -> float:
    process = psutil.Process(proc.pid)
    return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)]) / 2**20


def run_one(
    workers: int,
    url: str,
    headers: dict,
    client: redis.Redis,
    logs: Path,
    web: subprocess.Popen,
    connections: int = CONNECTIONS,
) -> dict[str, float]:
    """One size; prints its line and returns CPU seconds per 1,000 events by part."""
    client.flushdb()
    procs = [
        _start([sys.executable, "-m", "celery", "-A", "aiops_site", "worker", "--pool", "solo",
                "--without-gossip", "--without-mingle", "--without-heartbeat",
                "--loglevel", "WARNING", "--hostname", f"scale{i}@bench-host-{i}"],
               logs / f"worker-{workers}-{i}.log")
        for i in range(workers)
    ]  # fmt: skip
    try:
        _wait_for_members(client, workers)
        bodies = _bodies()
        accepted, lags = [0] * connections, []
        stop_at = time.perf_counter() + SECONDS

        def post_loop(slot: int) -> None:
            with httpx.Client(headers=headers, timeout=30) as http:
                k = slot
                while time.perf_counter() < stop_at:
                    response = http.post(url, content=bodies[k % len(bodies)])
                    if response.status_code == 202:
                        accepted[slot] += len(response.json()["ids"])
                    k += 1

        threads = [threading.Thread(target=post_loop, args=(n,)) for n in range(connections)]
        cpu = CpuMeter(web, procs, client)
        cpu.start()
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        while time.perf_counter() < stop_at:
            lags += [s for (_, g), s in consumer_lag_seconds(client).items() if g == MONITOR_GROUP]
            time.sleep(0.25)
        for thread in threads:
            thread.join()
        loaded = time.perf_counter()
        memory = [_rss_mb(p) for p in procs]
        while _backlog(client) and time.perf_counter() - loaded < DRAIN_TIMEOUT:
            time.sleep(0.2)
        drained = time.perf_counter()
        spent = cpu.stop()
        total = sum(accepted)
        lags.sort()
        p99 = lags[int(0.99 * (len(lags) - 1))] if lags else float("nan")
        ingest_rate = total / (loaded - started)
        print(
            f"workers {workers}: accepted {total:>7,} events  ingest {ingest_rate:>7,.0f}/s"
            f"  end-to-end {total / (drained - started):>7,.0f}/s  drain {drained - loaded:5.1f}s"
            f"{' (TIMED OUT)' if drained - loaded >= DRAIN_TIMEOUT else ''}"
            f"  monitor lag p99 {p99:5.2f}s  RSS/worker {sum(memory) / len(memory):5.0f} MB",
            flush=True,
        )  # fmt: skip
        per_1000 = {name: seconds * 1000 / max(total, 1) for name, seconds in spent.items()}
        print("           CPU s per 1,000 events: "
              + "  ".join(f"{name} {value:.3f}" for name, value in per_1000.items())
              + f"  (all {sum(per_1000.values()):.3f})", flush=True)  # fmt: skip
        return per_1000
    finally:
        for proc in procs:
            _stop(proc)


def _wait_for_members(client: redis.Redis, workers: int, timeout: float = 120) -> None:
    """Until every worker's monitor runner has beaten once (it joined the groups)."""
    deadline = time.monotonic() + timeout
    with tqdm(total=workers, desc=f"{workers} worker(s) joining", leave=False) as bar:
        while time.monotonic() < deadline:
            joined = client.hlen(f"aiops:agent-workers:{MONITOR_GROUP}")
            bar.n = joined
            bar.refresh()
            if joined >= workers:
                return
            time.sleep(0.5)
    raise RuntimeError(f"only {joined} of {workers} workers joined in {timeout:.0f}s")


def _ingest_argv(server: str, processes: int, port: int) -> list[str]:
    if server == "gunicorn":
        return [sys.executable, "-m", "gunicorn", "aiops_site.wsgi:application",
                "--bind", f"127.0.0.1:{port}", "--workers", str(processes),
                "--log-level", "warning"]  # fmt: skip
    # uvicorn's own --workers: one listening socket, N ingest processes behind it.
    return [sys.executable, "-m", "uvicorn", "aiops_site.asgi:application", "--host", "127.0.0.1",
            "--port", str(port), "--no-access-log", "--lifespan", "off", "--log-level", "warning",
            "--workers", str(processes)]  # fmt: skip


def _run_server(
    server_name: str, processes: int, headers: dict, client: redis.Redis, logs: Path
) -> list[dict[str, float]]:
    port = _free_port()
    server = _start(_ingest_argv(server_name, processes, port), logs / f"web-{server_name}.log")
    print(f"-- ingest: {processes} {server_name} process(es)", flush=True)
    try:
        _wait_ready(f"http://127.0.0.1:{port}/health")
        url = f"http://127.0.0.1:{port}/api/v1/events"
        # At least one client connection per ingest process, or some would sit idle.
        connections = max(CONNECTIONS, processes)
        return [run_one(n, url, headers, client, logs, server, connections)
                for n in WORKER_COUNTS]  # fmt: skip
    finally:
        _stop(server)
        client.flushdb()


def request_cost(server_name: str, headers: dict, logs: Path) -> None:
    """Server CPU per request for 1 and for 500 events, one request at a time: the fixed
    cost of a request (server, Django, auth, one publish) against the cost per event."""
    port = _free_port()
    server = _start(_ingest_argv(server_name, 1, port), logs / f"cost-{server_name}.log")
    rng = random.Random(3)
    try:
        _wait_ready(f"http://127.0.0.1:{port}/health")
        with httpx.Client(headers=headers, timeout=30) as http:
            for size, requests in ((1, 500), (BATCH, 50)):
                body = json.dumps({"events": [_event(rng, i) for i in range(size)]}).encode()
                before = _tree_cpu(server.pid)
                for _ in range(requests):
                    response = http.post(f"http://127.0.0.1:{port}/api/v1/events", content=body)
                    assert response.status_code == 202, response.text
                spent = (_tree_cpu(server.pid) - before) / requests
                print(f"{server_name:>8}: {size:>3} event(s) a request: server CPU "
                      f"{spent * 1000:5.2f} ms a request, {spent / size * 1e6:7.1f} µs an event",
                      flush=True)  # fmt: skip
    finally:
        _stop(server)


def _print_ceiling(costs: list[dict[str, float]]) -> None:
    """The arithmetic: with every part's CPU per event, what N cores could carry at best."""
    if not costs:
        return
    best = min(costs, key=lambda c: sum(v for k, v in c.items() if k != "client"))
    server_side = sum(v for k, v in best.items() if k != "client")
    print(f"cheapest run: {server_side:.3f} CPU s per 1,000 events without the load generator "
          f"-> at best {2000 / server_side:,.0f} events/s on 2 fully free cores, "
          f"{1000 / server_side:,.0f}/s per core")  # fmt: skip


def main() -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    _, plaintext = ApiToken.issue(name=f"bench-scale-{os.getpid()}", service="bench")
    headers = {"Authorization": f"Bearer {plaintext}", "Content-Type": "application/json"}
    client = redis.Redis.from_url(_redis_url())
    logs = Path(tempfile.mkdtemp(prefix="bench-scaleout-"))
    print(f"{SECONDS:.0f}s of mixed load per size, {CONNECTIONS}+ client connections, "
          f"batches of {BATCH}; {os.cpu_count()} CPUs; logs in {logs}")  # fmt: skip
    costs = []
    for server_name in SERVERS:
        for web_processes in WEB_PROCESSES:
            costs += _run_server(server_name, web_processes, headers, client, logs)
    _print_ceiling(costs)
    for server_name in SERVERS:
        request_cost(server_name, headers, logs)
    client.flushdb()
    os.environ.setdefault("BENCH_MESH_EVENTS", "20000")
    from benchmarks import bench_mesh

    raw = bench_mesh._client()
    with override_settings(EVENT_STREAM_MAXLEN=10_000_000):
        bench_mesh.bench_publish(raw)
        bench_mesh.bench_consume(raw)
    raw.flushdb()
