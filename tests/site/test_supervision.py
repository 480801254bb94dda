"""`make run` under supervision: a SIGKILLed worker, Redis or PostgreSQL comes back by itself,
web keeps serving. One real stack (web, worker, beat, embedded Redis and PostgreSQL) for the
module, in its own var/."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import pytest

from aiops_site import embedded
from tests.site.test_stack import ROOT, _free_port, _stack_env, _wait_for_health


@dataclass
class Stack:
    runner: subprocess.Popen
    var_dir: Path
    url: str
    output: list[str] = field(default_factory=list)

    def supervisord(self) -> psutil.Process:
        [child] = psutil.Process(self.runner.pid).children()
        return child

    def program(self, *words: str) -> psutil.Process | None:
        """The supervisord child whose command line holds all ``words`` (None if none)."""
        for child in self.supervisord().children():
            try:
                cmdline = " ".join(child.cmdline())
            except psutil.NoSuchProcess:
                continue
            if all(word in cmdline for word in words):
                return child
        return None


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    # Not under pytest's tmp folder: each pytest session resets /tmp/pytest-of-<user> to
    # 0700, which locks the embedded PostgreSQL's own system user out of its data.
    base = Path(tempfile.mkdtemp(prefix="aiops-supervision-"))
    base.chmod(0o755)
    var_dir = base / "var"
    port = _free_port()
    runner = subprocess.Popen(
        [sys.executable, "manage.py", "run_stack", "--port", str(port), "--only", "web",
         "worker", "beat"],
        cwd=ROOT, env=_stack_env(var_dir), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    running = Stack(runner, var_dir, f"http://127.0.0.1:{port}")
    # Drain the output so the stack never blocks on a full pipe (and keep it for messages).
    threading.Thread(target=lambda: running.output.extend(runner.stdout), daemon=True).start()
    try:
        _wait_for_health(f"{running.url}/health", runner, timeout=150)
        yield running
        runner.send_signal(signal.SIGINT)
        runner.wait(timeout=90)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
        embedded.stop_servers(var_dir)
        shutil.rmtree(base, ignore_errors=True)


def _poll_health(url: str, until: float, answers: list[int | str]) -> None:
    while time.monotonic() < until:
        try:
            answers.append(httpx.get(url, timeout=5).status_code)
        except httpx.HTTPError as exc:
            answers.append(type(exc).__name__)
        time.sleep(0.2)


def test_it_restarts_a_killed_worker_while_web_keeps_answering(stack):
    worker = stack.program("celery", "worker")
    assert worker is not None
    answers: list[int | str] = []
    poller = threading.Thread(
        target=_poll_health, args=(f"{stack.url}/health", time.monotonic() + 20, answers)
    )
    poller.start()

    worker.kill()
    killed_at = time.monotonic()
    replacement = None
    while time.monotonic() - killed_at < 15 and replacement is None:
        time.sleep(0.2)
        found = stack.program("celery", "worker")
        replacement = found if found and found.pid != worker.pid else None
    back_after = time.monotonic() - killed_at
    poller.join()

    assert replacement is not None, "no new worker within 15 s"
    print(f"worker back after {back_after:.1f} s; /health answers: {len(answers)}")
    assert all(isinstance(answer, int) for answer in answers), answers  # web never stopped
    assert stack.runner.poll() is None
    assert stack.program("uvicorn") is not None and stack.program("celery", "beat") is not None


def test_it_brings_redis_back_on_the_same_port_and_health_recovers(stack):
    port = int((stack.var_dir / "redis" / "port").read_text())
    redis_server = stack.program("redis-server")
    assert redis_server is not None
    _wait_for_health(f"{stack.url}/health", stack.runner, timeout=60)

    redis_server.kill()
    killed_at = time.monotonic()
    time.sleep(0.5)
    _wait_for_health(f"{stack.url}/health", stack.runner, timeout=30)
    back_after = time.monotonic() - killed_at

    print(f"/health back to 200 after {back_after:.1f} s")
    replacement = stack.program("redis-server")
    assert replacement is not None and replacement.pid != redis_server.pid
    assert port in {c.laddr.port for c in replacement.net_connections(kind="tcp")}
    # The agents in the worker and beat reconnected too: each heartbeats into the new Redis.
    killed_wall = time.time() - (time.monotonic() - killed_at)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        checks = httpx.get(f"{stack.url}/health", timeout=5).json()["checks"]
        beats = {k: v["last_beat"] for k, v in checks.items() if k.startswith("heartbeat:")}
        if beats and all(last > killed_wall for last in beats.values()):
            break
        time.sleep(1)
    assert beats and all(last > killed_wall for last in beats.values()), beats
    print(f"every component heartbeat again after {time.monotonic() - killed_at:.1f} s")


def test_it_brings_postgres_back_after_a_sigkill_and_health_recovers(stack):
    postmaster = stack.program("pginstall/bin/postgres")
    assert postmaster is not None
    _wait_for_health(f"{stack.url}/health", stack.runner, timeout=60)

    postmaster.kill()
    killed_at = time.monotonic()
    replacement = None
    while time.monotonic() - killed_at < 30 and replacement is None:
        time.sleep(0.2)
        found = stack.program("pginstall/bin/postgres")
        replacement = found if found and found.pid != postmaster.pid else None
    _wait_for_health(f"{stack.url}/health", stack.runner, timeout=30)
    back_after = time.monotonic() - killed_at

    print(f"PostgreSQL back and /health 200 after {back_after:.1f} s")
    assert replacement is not None, "no new postmaster within 30 s"
    assert embedded.postgres_running(stack.var_dir)
    # The web server's connections found the restarted server: a query through the ORM.
    assert httpx.get(f"{stack.url}/health", timeout=5).json()["checks"]["database"]["ok"]


def _states(stack: Stack) -> dict[str, str]:
    status = subprocess.run(
        [sys.executable, "-m", "supervisor.supervisorctl", "-c",
         str(stack.var_dir / "supervisord.conf"), "status"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    return dict(line.split()[:2] for line in status.stdout.splitlines())


def test_supervisorctl_shows_each_program_running(stack):
    expected = dict.fromkeys(["beat", "postgres", "redis", "web", "worker"], "RUNNING")
    # A program restarted by an earlier test is STARTING for its first few seconds.
    deadline = time.monotonic() + 15
    while (states := _states(stack)) != expected and time.monotonic() < deadline:
        time.sleep(0.5)

    assert states == expected


def test_only_a_signal_to_run_stack_stops_everything(stack):
    pids = [p.pid for p in stack.supervisord().children(recursive=True)]

    stack.runner.send_signal(signal.SIGTERM)
    stack.runner.wait(timeout=90)

    _, alive = psutil.wait_procs([psutil.Process(pid) for pid in pids if psutil.pid_exists(pid)],
                                 timeout=15)  # fmt: skip
    assert alive == []
    assert not embedded.postgres_running(stack.var_dir)
