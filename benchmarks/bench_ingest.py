"""HTTP batch ingest through the real ASGI server (issue 3): 1000 events a request.

Starts uvicorn on a free loopback port (``BENCH_INGEST_WORKERS`` processes, default 2, the
machine's core count), issues a benchmark token, and posts from ``BENCH_INGEST_CONNECTIONS``
client connections (default 2) for ``BENCH_INGEST_SECONDS``. The server writes to the scratch
Redis database of the benchmarks, so a running stack's streams are untouched.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import httpx
from django.conf import settings

from agents.models import ApiToken

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = int(os.environ.get("BENCH_REDIS_DB", "14"))
WORKERS = int(os.environ.get("BENCH_INGEST_WORKERS", "2"))
CONNECTIONS = int(os.environ.get("BENCH_INGEST_CONNECTIONS", "2"))
SECONDS = float(os.environ.get("BENCH_INGEST_SECONDS", "10"))
BATCH = 1000


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _bodies() -> list[bytes]:
    detail = "x" * 250  # about 500 bytes an event once enveloped
    bodies = []
    for k in range(4):
        events = [
            {
                "type": "import.failed",
                "severity": "error",
                "instance": "web-1",
                "payload": {
                    "import_id": f"imp-{k}-{i}",
                    "user_id": "user-42",
                    "source": "chrome",
                    "error": f"Timeout after 30s while inserting batch {detail}",
                    "bookmark_count": 25000,
                    "batch_size": 1000,
                },
            }
            for i in range(BATCH)
        ]
        bodies.append(json.dumps({"events": events}).encode())
    return bodies


def _start_server(port: int) -> subprocess.Popen:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=settings.DATABASE_URL,
        REDIS_URL=urlunparse(urlparse(settings.REDIS_URL)._replace(path=f"/{BENCH_DB}")),
        SECRET_KEY=settings.SECRET_KEY,
        INGEST_RATE_LIMIT_PER_MINUTE="100000000",
        EVENT_STREAM_MAXLEN="200000",
        LOG_LEVEL="WARNING",
    )
    env.pop("PYTEST_VERSION", None)
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "aiops_site.asgi:application",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(WORKERS),
        "--no-access-log",
        "--lifespan",
        "off",
        "--log-level",
        "warning",
    ]
    return subprocess.Popen(command, cwd=ROOT, env=env)


def _wait_ready(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code in (200, 503):
                return
        except httpx.HTTPError:
            time.sleep(0.3)
    raise RuntimeError(f"server at {url} did not come up")


def main() -> None:
    token, plaintext = ApiToken.issue(name=f"bench-{os.getpid()}", service="bench")
    port = _free_port()
    server = _start_server(port)
    try:
        _wait_ready(f"http://127.0.0.1:{port}/health")
        bodies = _bodies()
        url = f"http://127.0.0.1:{port}/api/v1/events"
        headers = {"Authorization": f"Bearer {plaintext}", "Content-Type": "application/json"}
        with httpx.Client(headers=headers, timeout=30) as warm:
            for body in bodies:
                response = warm.post(url, content=body)
                assert response.status_code == 202, (response.status_code, response.text[:300])

        accepted = [0] * CONNECTIONS
        latencies: list[float] = []
        stop_at = time.perf_counter() + SECONDS

        def post_loop(slot: int) -> None:
            with httpx.Client(headers=headers, timeout=30) as client:
                k = 0
                while time.perf_counter() < stop_at:
                    started = time.perf_counter()
                    response = client.post(url, content=bodies[k % len(bodies)])
                    latencies.append(time.perf_counter() - started)
                    assert response.status_code == 202, response.text[:300]
                    accepted[slot] += len(response.json()["ids"])
                    k += 1

        threads = [threading.Thread(target=post_loop, args=(n,)) for n in range(CONNECTIONS)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        latencies.sort()
        rate = sum(accepted) / elapsed
        print(
            f"HTTP ingest, {BATCH} events/request ({len(bodies[0]) // BATCH} bytes/event), "
            f"{CONNECTIONS} connections, {WORKERS} uvicorn workers: {rate:,.0f} events/s "
            f"(target >= 20,000); request p50 {latencies[len(latencies) // 2] * 1000:.0f} ms, "
            f"p99 {latencies[int(len(latencies) * 0.99) - 1] * 1000:.0f} ms"
        )
    finally:
        server.terminate()
        server.wait(20)
        token.delete()


if __name__ == "__main__":
    main()
