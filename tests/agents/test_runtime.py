"""Agents inside a real Celery worker: they consume, beat, obey the switch, and are watched."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from agents import mesh
from agents.events import parse_event
from agents.models import Agent, AgentStatus
from agents.runtime import check_agents, registered_agents, sync_agent_rows
from tests.agents import mesh_handlers
from tests.support import process_env

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def test_agents(settings):
    settings.AGENT_MODULES = ["tests.agents.agent_fixtures"]
    mesh_handlers.create_tables()


def worker_env(**extra: str) -> dict[str, str]:
    return process_env(
        AGENT_MODULES="tests.agents.agent_fixtures",
        AGENT_HEARTBEAT_SECONDS="1",
        MESH_CLAIM_IDLE_MS="1500",
        **extra,
    )


def start_worker(name: str, **extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "aiops_site", "worker", "-P", "solo",
            "--hostname", f"{name}@test", "--without-gossip", "--without-mingle",
            "--without-heartbeat", "--loglevel", "WARNING",
        ],
        cwd=ROOT,
        env=worker_env(**extra),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def wait_for(condition, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(proc.stderr.read().decode()[-3000:])
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)


def effects() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM mesh_test_effects")
        return cursor.fetchone()[0]


def work(n: int, **payload):
    return parse_event({"type": "custom.work", "source": "test", "payload": {"n": n, **payload}})


def test_registry_holds_the_configured_agents_and_rows_follow_it():
    assert set(registered_agents()) >= {"recorder", "staller"}
    sync_agent_rows()
    row = Agent.objects.get(name="recorder")
    assert row.kind == "test" and row.subscribes == ["custom.work"]


def test_a_worker_runs_the_agent_which_stores_effects_and_beats(client, admin_user):
    worker = start_worker("w1")
    try:
        mesh.publish_many([work(i) for i in range(500)])
        wait_for(lambda: effects() == 500, 60, worker)
        wait_for(lambda: Agent.objects.get(name="recorder").events_processed == 500, 15, worker)
    finally:
        stop(worker)
    row = Agent.objects.get(name="recorder")
    assert row.status == AgentStatus.RUNNING
    assert row.last_heartbeat is not None
    assert list(mesh.replay("agent.heartbeat"))  # announced on the mesh too
    health = client.get("/health").json()
    assert health["checks"]["heartbeat:agent:recorder"]["ok"] is True


def test_a_disabled_agent_processes_nothing():
    sync_agent_rows()
    Agent.objects.filter(name="recorder").update(enabled=False)
    worker = start_worker("w1")
    try:
        mesh.publish_many([work(i) for i in range(20)])
        wait_for(
            lambda: Agent.objects.get(name="recorder").status == AgentStatus.DISABLED, 30, worker
        )
        time.sleep(2)
        assert effects() == 0

        Agent.objects.filter(name="recorder").update(enabled=True)
        wait_for(lambda: effects() == 20, 30, worker)  # the events waited in the stream
    finally:
        stop(worker)


def test_a_killed_workers_events_are_processed_by_another_after_reclaim():
    first = start_worker("first")
    try:
        mesh.publish_many([work(i) for i in range(2000)])
        wait_for(lambda: effects() >= 200, 60, first)
    finally:
        stop(first, signal.SIGKILL)
    assert effects() < 2000

    second = start_worker("second")
    try:
        wait_for(lambda: effects() == 2000, 90, second)
    finally:
        stop(second)


def test_a_stalled_agent_is_shown_down_on_health_and_raises_agent_down(client, settings):
    settings.HEARTBEAT_STALE_SECONDS = 3
    settings.AGENT_DOWN_AFTER_SECONDS = 3
    worker = start_worker("w1")
    try:
        wait_for(
            lambda: Agent.objects.filter(name="staller", status=AgentStatus.RUNNING).exists(),
            30,
            worker,
        )
        mesh.publish(parse_event({"type": "custom.stall", "source": "t", "payload": {"stall": 1}}))
        wait_for(lambda: client.get("/health").status_code == 503, 30, worker)
        body = client.get("/health").json()
        assert "heartbeat:agent:staller" in body["failing"]
        assert "heartbeat:agent:recorder" not in body["failing"]  # the other agent still beats

        assert check_agents() == ["staller"]
        assert check_agents() == []  # raised once
    finally:
        stop(worker, signal.SIGKILL)
    assert Agent.objects.get(name="staller").status == AgentStatus.DOWN
    [down] = list(mesh.replay("agent.down"))
    assert down.event.payload["agent"] == "staller"
