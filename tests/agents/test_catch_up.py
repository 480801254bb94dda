"""Catch-up after a PostgreSQL outage: the backlog drains in batches at normal speed, with
no event dead-lettered or lost. A real Celery worker runs the recorder agent; the outage is
real too (the test database refuses connections and its sessions are terminated)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import psycopg
import pytest
from django.db import connection

from agents import mesh
from agents.models import Agent
from aiops_site.database import testing
from tests.agents.test_runtime import effects, start_worker, stop, test_agents, wait_for, work

pytestmark = pytest.mark.django_db(transaction=True)
__all__ = ["test_agents"]  # the autouse fixture: test agents, empty effect tables

BACKLOG = 3000


def connect(dbname: str) -> psycopg.Connection:
    # As the test administrator: neither the app nor the owner may end the app's sessions.
    return testing.connect(dbname)


@contextlib.contextmanager
def postgres_outage() -> Iterator[None]:
    """The test database refuses new connections and drops the open ones, then comes back."""
    name = connection.settings_dict["NAME"]
    connection.close()
    admin = connect("postgres")
    try:
        admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            [name],
        )
        yield
    finally:
        admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
        admin.close()


def drain(total: int, worker, timeout: float) -> float:
    started = time.monotonic()
    wait_for(lambda: effects() == total, timeout, worker)
    return time.monotonic() - started


def test_a_backlog_left_by_a_database_outage_drains_at_normal_speed():
    worker = start_worker("catchup")
    try:
        mesh.publish_many([work(i) for i in range(BACKLOG)])
        normal = BACKLOG / drain(BACKLOG, worker, 120)

        with postgres_outage():
            mesh.publish_many([work(BACKLOG + i) for i in range(BACKLOG)])
            time.sleep(5)  # the worker reads a batch, fails on the database, and waits
            with pytest.raises(psycopg.OperationalError, match="not currently accepting"):
                connect(connection.settings_dict["NAME"])
        after = BACKLOG / drain(2 * BACKLOG, worker, 120)
    finally:
        stop(worker)
        stderr = worker.stderr.read().decode()

    print(f"normal: {normal:.0f} events/s; after the outage: {after:.0f} events/s")
    assert "store unavailable; events wait" in stderr  # the outage really hit the handler
    assert mesh.dead_letters() == []  # no event blamed for the outage
    assert after >= 500
    assert after >= normal / 3


def test_an_outage_met_by_the_loop_itself_is_an_outage_not_a_failure():
    worker = start_worker("idle")
    try:
        wait_for(lambda: Agent.objects.filter(name="recorder", last_heartbeat__isnull=False)
                 .exists(), 60, worker)  # fmt: skip
        with postgres_outage():
            # No events: only the loop's own queries (the switch, the heartbeat) meet it.
            time.sleep(6)
        mesh.publish_many([work(i) for i in range(10)])
        wait_for(lambda: effects() == 10, 60, worker)
    finally:
        stop(worker)
        stderr = worker.stderr.read().decode()

    assert "store unavailable; events wait" in stderr
    assert "agent loop failed" not in stderr  # no traceback a second for a known outage
