"""Live dashboard fan-out under load (issue 7).

100 authenticated WebSocket clients (the ``websockets`` client with a session cookie) hold
the overview's live connection to a real uvicorn while 1,000 status events/s flow through
the relay agent (``dashboard.relay`` in its own Celery worker: coalesced repaints). An
agent's status changes every ``BENCH_DASH_CHANGE_EVERY`` seconds (after every client got its
first screen and 2 s of warm-up under the flood); measured: the time from each change (row
updated and ``agent.status`` published) until every client has received a repaint showing
it — p50/p99 over changes (target p99 < 500 ms) — and whether every client ends on the
latest state.

Streams and the channel layer use a scratch Redis database (``BENCH_REDIS_DB``, default
14); the bench user, its session and the bench agent row are removed afterwards.
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import websockets
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.test import override_settings

import core.redis as redis_client
from agents import mesh
from agents.events import system_event
from agents.models import Agent, AgentStatus
from agents.system_events import AgentHeartbeat, AgentStatusChanged

ROOT = Path(__file__).resolve().parents[1]
BENCH_DB = int(os.environ.get("BENCH_REDIS_DB", "14"))
CLIENTS = int(os.environ.get("BENCH_DASH_CLIENTS", "100"))
EVENTS_PER_SECOND = int(os.environ.get("BENCH_DASH_EVENTS_PER_SECOND", "1000"))
SECONDS = float(os.environ.get("BENCH_DASH_SECONDS", "20"))
CHANGE_EVERY = float(os.environ.get("BENCH_DASH_CHANGE_EVERY", "0.5"))
AGENT = "bench-dashboard-agent"
USER = "bench-dashboard"


def _redis_url() -> str:
    return urlunparse(urlparse(settings.REDIS_URL)._replace(path=f"/{BENCH_DB}"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _env() -> dict[str, str]:
    env = {**os.environ, "REDIS_URL": _redis_url(), "LOG_LEVEL": "ERROR", "LOG_FORMAT": "text"}
    env["DATABASE_URL"] = env.get("DATABASE_URL") or settings.DATABASE_URL
    env["SECRET_KEY"] = settings.SECRET_KEY
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env


def _start_relay(client) -> subprocess.Popen:
    """The relay agent alone in a Celery worker, as ``make run`` runs it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "aiops_site", "worker", "-P", "solo",
         "--hostname", "dashboard-relay@bench", "--without-gossip", "--without-mingle",
         "--without-heartbeat", "--loglevel", "ERROR"],
        cwd=ROOT, env={**_env(), "AGENT_MODULES": "dashboard.relay"},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not client.hlen("aiops:agent-workers:dashboard-relay"):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(proc.stderr.read().decode()[-2000:])
        time.sleep(0.1)
    return proc


def _start_server(port: int) -> subprocess.Popen:
    env = _env()
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "uvicorn", "aiops_site.asgi:application", "--host", "127.0.0.1",
            "--port", str(port), "--lifespan", "off", "--ws", "websockets", "--no-access-log",
        ],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        if proc.poll() is not None:
            raise RuntimeError(proc.stderr.read().decode()[-2000:])
        time.sleep(0.2)
    raise RuntimeError("uvicorn did not start")


class Client:
    def __init__(self) -> None:
        self.seen: dict[int, float] = {}  # change number -> when first seen
        self.last = -1
        self.messages = 0

    async def run(self, url: str, cookie: str, origin: str, stop: asyncio.Event) -> None:
        headers = {"Cookie": cookie}
        async with websockets.connect(url, additional_headers=headers, origin=origin) as ws:
            while not stop.is_set():
                try:
                    html = await asyncio.wait_for(ws.recv(), timeout=0.5)
                except TimeoutError:
                    continue
                now = time.perf_counter()
                self.messages += 1
                marker = html.find("bench-change-")
                if marker >= 0:
                    number = int(html[marker + 13 : html.index("<", marker)])
                    self.seen.setdefault(number, now)
                    self.last = number


def _flood(stop: threading.Event, client) -> None:
    """1,000 heartbeat-like status events per second, in 10 batches a second."""
    batch = max(EVENTS_PER_SECOND // 10, 1)
    while not stop.is_set():
        started = time.perf_counter()
        events = [
            system_event(
                "agent.heartbeat",
                AgentHeartbeat(agent=f"flood-{i % 20}", consumer="bench", status="running",
                               processed=100),
                instance="flood",
            )
            for i in range(batch)
        ]  # fmt: skip
        mesh.publish_many(events, client=client)
        stop.wait(max(0.1 - (time.perf_counter() - started), 0))


def _change(number: int) -> float:
    status = AgentStatus.RUNNING if number % 2 else AgentStatus.DEGRADED
    Agent.objects.filter(name=AGENT).update(
        status=status, current_activity=f"bench-change-{number}"
    )
    at = time.perf_counter()
    mesh.publish(
        system_event(
            "agent.status", AgentStatusChanged(agent=AGENT, status=status), instance=AGENT
        )
    )  # fmt: skip
    return at


async def _drive(port: int, cookie: str) -> tuple[list[Client], dict[int, float]]:
    stop = asyncio.Event()
    clients = [Client() for _ in range(CLIENTS)]
    url, origin = f"ws://127.0.0.1:{port}/ws/status/", f"http://127.0.0.1:{port}"
    tasks = [asyncio.create_task(c.run(url, cookie, origin, stop)) for c in clients]
    connect_deadline = time.perf_counter() + 60
    while any(c.messages == 0 for c in clients) and time.perf_counter() < connect_deadline:
        await asyncio.sleep(0.1)  # every client connected and took its first screen
    await asyncio.sleep(2)  # warm-up under the flood
    changes: dict[int, float] = {}
    number, deadline = 0, time.perf_counter() + SECONDS
    while time.perf_counter() < deadline:
        changes[number] = await asyncio.to_thread(_change, number)
        number += 1
        await asyncio.sleep(CHANGE_EVERY)
    await asyncio.sleep(3)  # let the trailing repaint land
    stop.set()
    failures = [r for r in await asyncio.gather(*tasks, return_exceptions=True) if r]
    if failures:
        print(f"{len(failures)} clients failed, e.g. {failures[0]!r}")
    return clients, changes


def main() -> None:
    layers = {
        "default": {
            **settings.CHANNEL_LAYERS["default"],
            "CONFIG": {**settings.CHANNEL_LAYERS["default"]["CONFIG"], "hosts": [_redis_url()]},
        }
    }
    with override_settings(REDIS_URL=_redis_url(), CHANNEL_LAYERS=layers):
        redis_client._client = None  # re-made for the scratch database
        client = redis_client.get_redis()
        client.flushdb()
        user, _ = get_user_model().objects.get_or_create(username=USER)
        Agent.objects.update_or_create(name=AGENT, defaults={"kind": "bench", "version": "1"})
        session = SessionStore()
        session.update({"_auth_user_id": str(user.pk), "_auth_user_backend":
                        "django.contrib.auth.backends.ModelBackend",
                        "_auth_user_hash": user.get_session_auth_hash()})  # fmt: skip
        session.create()
        cookie = f"{settings.SESSION_COOKIE_NAME}={session.session_key}"
        port = _free_port()
        server = _start_server(port)
        relay = _start_relay(client)
        stop_flood = threading.Event()
        flood = threading.Thread(target=_flood, args=(stop_flood, client), daemon=True)
        try:
            flood.start()
            clients, changes = asyncio.run(_drive(port, cookie))
        finally:
            stop_flood.set()
            for proc in (relay, server):
                proc.terminate()
                proc.wait(20)
            session.delete()
            Agent.objects.filter(name=AGENT).delete()
            user.delete()
            client.flushdb()
        redis_client._client = None
    _report(clients, changes)


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def _report(clients: list[Client], changes: dict[int, float]) -> None:
    """A change counts as received by a client when it shows that change or a later one
    (coalescing may skip straight to the later state, which is the point)."""
    final = max(changes)
    if not any(c.seen for c in clients):
        print("no client saw any change")
        return
    to_all, to_one = [], []
    for number, at in changes.items():
        arrivals = []
        for c in clients:
            later = [t for n, t in c.seen.items() if n >= number]
            if later:
                arrivals.append((min(later) - at) * 1000)
        to_one.extend(arrivals)
        if len(arrivals) == len(clients):
            to_all.append(max(arrivals))
    stale = sum(1 for c in clients if c.last != final)
    if os.environ.get("BENCH_DASH_VERBOSE"):
        print("per change, ms to every client:", [round(v) for v in to_all])
    print(f"{len(clients)} clients, {EVENTS_PER_SECOND} events/s, {len(changes)} status changes")
    print(
        f"change -> every client: p50 {_percentile(to_all, 0.5):.0f} ms, "
        f"p99 {_percentile(to_all, 0.99):.0f} ms, max {max(to_all):.0f} ms "
        f"(target p99 < 500 ms; {len(changes) - len(to_all)} changes never reached everyone)"
    )
    print(f"change -> each client: p50 {_percentile(to_one, 0.5):.0f} ms, "
          f"p99 {_percentile(to_one, 0.99):.0f} ms")  # fmt: skip
    print(f"messages per client: {statistics.mean(c.messages for c in clients):.0f} "
          f"in {SECONDS:.0f}s + 6s (every panel coalesced)")  # fmt: skip
    print(f"clients not on the latest state at the end: {stale} (must be 0)")
