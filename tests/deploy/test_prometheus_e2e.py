"""A real Prometheus (Debian's binary) with deploy/prometheus/rules.yml scrapes a real uvicorn
while a real Celery worker runs the agents; the worker stops, the agents go silent, and
Prometheus's own API shows AgentDown pending (``for: 1m`` keeps the production rule as is:
pending appears at the first evaluation that sees the heartbeats too old)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.deploy.promql import ROOT, RULES
from tests.support import process_env

pytestmark = pytest.mark.django_db(transaction=True)

PROMETHEUS = "/usr/bin/prometheus"
DOWN_AFTER_SECONDS = "3"  # the app's setting, exported to the rule as a gauge


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(what: str, probe: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if result := probe():
                return result
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen]]:
    """Starts processes in their own groups, logs under tmp_path; stops them all at the end."""
    started: list[subprocess.Popen] = []

    def start(name: str, argv: list[str], **env: str) -> subprocess.Popen:
        log = open(tmp_path / f"{name}.log", "wb")  # noqa: SIM115  (kept by the child)
        env = process_env(LOG_FORMAT="text", **env)
        proc = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        started.append(proc)
        return proc

    yield start
    for proc in reversed(started):
        stop(proc)


def prometheus_config(tmp_path: Path, app_port: int) -> Path:
    path = tmp_path / "prometheus.yml"
    path.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"rule_files: [{RULES}]\n"
        "scrape_configs:\n"
        "  - job_name: aiops\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{app_port}']}}]\n"
    )
    return path


def agent_down_alerts(prom: str) -> list[dict]:
    alerts = httpx.get(f"{prom}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
    return [a for a in alerts if a["labels"]["alertname"] == "AgentDown"]


def test_agent_down_goes_pending_when_the_worker_stops(spawn, tmp_path):
    app_port, prom_port = free_port(), free_port()
    app, prom = f"http://127.0.0.1:{app_port}", f"http://127.0.0.1:{prom_port}"
    spawn("web", [sys.executable, "-m", "uvicorn", "aiops_site.asgi:application", "--host",
                  "127.0.0.1", "--port", str(app_port), "--lifespan", "off", "--no-access-log"],
          AGENT_DOWN_AFTER_SECONDS=DOWN_AFTER_SECONDS)  # fmt: skip
    worker = spawn("worker", [sys.executable, "-m", "celery", "-A", "aiops_site", "worker",
                              "--pool", "solo", "--without-gossip", "--without-mingle",
                              "--without-heartbeat", "--loglevel", "WARNING",
                              "--hostname", f"prom-e2e-{os.getpid()}@%h"],
                   AGENT_HEARTBEAT_SECONDS="1")  # fmt: skip
    spawn("prometheus", [PROMETHEUS, f"--config.file={prometheus_config(tmp_path, app_port)}",
                         f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                         f"--web.listen-address=127.0.0.1:{prom_port}"])  # fmt: skip

    def agents_beating() -> bool:
        page = httpx.get(f"{app}/metrics", timeout=5).text
        return "ai_ops_agent_heartbeat_age_seconds{" in page

    wait_for("the worker's agents to beat", agents_beating, 90)

    def scraped_healthy() -> bool:
        query = {
            "query": 'up{job="aiops"} == 1 and on() count(ai_ops_agent_heartbeat_age_seconds) > 0'
        }
        return bool(
            httpx.get(f"{prom}/api/v1/query", params=query, timeout=5).json()["data"]["result"]
        )

    wait_for("Prometheus to scrape the beating agents", scraped_healthy, 60)
    time.sleep(2)  # a few evaluations with every agent beating
    assert agent_down_alerts(prom) == []

    stop(worker)

    alerts = wait_for("AgentDown", lambda: agent_down_alerts(prom), 45)
    assert {a["state"] for a in alerts} == {"pending"}
    assert all(a["labels"]["severity"] == "critical" for a in alerts)
    assert "has not sent a heartbeat" in alerts[0]["annotations"]["summary"]
    agents = {a["labels"]["agent"] for a in alerts}
    assert "bookmark-monitor" in agents or len(agents) >= 2, agents
