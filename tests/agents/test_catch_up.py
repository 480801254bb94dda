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
from tests.agents.test_runtime import effects, start_worker, stop, test_agents, wait_for, work

pytestmark = pytest.mark.django_db(transaction=True)
__all__ = ["test_agents"]  # the autouse fixture: test agents, empty effect tables

BACKLOG = 3000


def connect(dbname: str) -> psycopg.Connection:
    db = connection.settings_dict
    return psycopg.connect(host=db["HOST"], port=db["PORT"] or None, user=db["USER"],
                           password=db["PASSWORD"] or None, dbname=dbname,
                           autocommit=True)  # fmt: skip


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
