"""Batch handlers run by consumer processes that the mesh tests start and kill."""

from __future__ import annotations

import os
import signal
import time

from django.db import connection, transaction

from agents.mesh import Delivery


def create_tables() -> None:
    """As the owner role (the app's runtime role creates no tables); the consumers, as the
    runtime role, get their rows by default privilege."""
    from tests.support import owner_cursor

    with owner_cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS mesh_test_effects (event_id text PRIMARY KEY)")
        cursor.execute("CREATE TABLE IF NOT EXISTS mesh_test_calls (event_id text NOT NULL)")
        # Transactional tests flush Django's tables only: start these empty too.
        cursor.execute("TRUNCATE mesh_test_effects, mesh_test_calls")


def record_effects(deliveries: list[Delivery]) -> None:
    """Store one effect per event id (idempotent), log every call, then dawdle.

    The pause after the commit is the window in which a test SIGKILLs the process: effects
    stored, entries not yet acknowledged, exactly the case reclaim and dedup must handle.
    """
    rows = [(d.event.id,) for d in deliveries]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany("INSERT INTO mesh_test_calls VALUES (%s)", rows)
        cursor.executemany("INSERT INTO mesh_test_effects VALUES (%s) ON CONFLICT DO NOTHING", rows)
    time.sleep(0.05)


def record_effects_then_die(deliveries: list[Delivery]) -> None:
    """As :func:`record_effects`, then SIGKILL this process once 300 calls are stored.

    The kill lands right after a batch's commit, before its acknowledgement can leave: the
    worst moment for a crash, reached every time rather than by a timer's luck.
    """
    record_effects(deliveries)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM mesh_test_calls")
        if cursor.fetchone()[0] >= 300:
            os.kill(os.getpid(), signal.SIGKILL)


def noop(deliveries: list[Delivery]) -> None:
    """For throughput measurements: the mesh's own cost, nothing else."""


def stop_at_last(deliveries: list[Delivery]) -> None:
    """Ask this consumer process to stop (SIGTERM, as a supervisor would) once the event
    marked ``last`` is handled: it stops right after a batch, before its next read."""
    if any(d.event.payload.get("last") for d in deliveries):
        os.kill(os.getpid(), signal.SIGTERM)
