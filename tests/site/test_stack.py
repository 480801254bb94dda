"""`make run` end to end: serves health and admin, refuses a second copy, Ctrl-C cleans up."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import psycopg
import pytest

from aiops_site import embedded
from aiops_site.stack import AlreadyRunning, run_lock

ROOT = Path(__file__).resolve().parents[2]


def test_run_lock_refuses_a_second_holder_with_a_clear_message(tmp_path):
    with run_lock(tmp_path), pytest.raises(AlreadyRunning, match="already running"):  # noqa: SIM117
        with run_lock(tmp_path):
            pass
    with run_lock(tmp_path):  # released when the first holder ends
        pass


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _stack_env(var_dir: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "PYTEST_VERSION", "SECRET_KEY"}
    }
    env.update(AIOPS_VAR_DIR=str(var_dir), AIOPS_ADMIN_PASSWORD="pw-stack-test", LOG_FORMAT="text")
    return env


def _wait_for_health(url: str, proc: subprocess.Popen, timeout: float) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "run_stack exited early"
        try:
            response = httpx.get(url, timeout=2)
            if response.status_code == 200:
                return response
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} was not healthy within {timeout}s")


def test_run_stack_serves_health_and_admin_then_stops_everything_on_ctrl_c(tmp_path):
    var_dir = tmp_path / "var"
    port = _free_port()
    runner = subprocess.Popen(
        [sys.executable, "manage.py", "run_stack", "--port", str(port)],
        cwd=ROOT,
        env=_stack_env(var_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        health = _wait_for_health(f"http://127.0.0.1:{port}/health", runner, timeout=90)
        assert health.json()["checks"]["database"]["ok"]
        assert httpx.get(f"http://127.0.0.1:{port}/admin/login/").status_code == 200
        # Every process of the stack works as the runtime role, none as owner or superuser.
        admin_url = embedded.as_role(embedded.ensure_postgres(var_dir), "postgres")
        with psycopg.connect(admin_url.rsplit("/", 1)[0] + "/postgres") as admin:
            users = admin.execute(
                "SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = 'aiops'"
            ).fetchall()
        assert users == [("aiops_app",)]

        second = subprocess.run(
            [sys.executable, "manage.py", "run_stack", "--port", str(_free_port())],
            cwd=ROOT,
            env=_stack_env(var_dir),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode != 0
        assert "already running" in second.stderr

        children = psutil.Process(runner.pid).children(recursive=True)
        assert len(children) >= 3  # web, worker, beat (and their shells)
        redis_pid = int((var_dir / "redis" / "redis.pid").read_text())
        pg_pid = int((var_dir / "pg" / "postmaster.pid").read_text().split()[0])

        runner.send_signal(signal.SIGINT)
        output, _ = runner.communicate(timeout=60)
    finally:
        if runner.poll() is None:
            runner.kill()
        embedded.stop_servers(var_dir)

    assert "admin" in output and "pw-stack-test" not in output  # password from env not echoed
    psutil.wait_procs(children, timeout=10)
    assert [child.pid for child in children if embedded.pid_alive(child.pid)] == []
    assert not embedded.pid_alive(redis_pid)
    assert not embedded.pid_alive(pg_pid)
