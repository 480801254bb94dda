"""Celery tasks of the agents app. Tasks take ids, never ORM objects, and stay idempotent."""

from __future__ import annotations

import socket

from celery import shared_task

from agents.heartbeats import record_heartbeat


@shared_task(name="agents.tasks.record_worker_heartbeat", ignore_result=True)
def record_worker_heartbeat() -> None:
    """Scheduled by beat, run by a worker: one beat proves the broker, beat and a worker work."""
    record_heartbeat(f"celery-worker@{socket.gethostname()}")
