"""Celery tasks of the agents app. Tasks take ids, never ORM objects, and stay idempotent."""

from __future__ import annotations

import socket
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from agents import mesh, service_registry
from agents.heartbeats import record_heartbeat
from knowledge import services


@shared_task(name="agents.tasks.record_worker_heartbeat", ignore_result=True)
def record_worker_heartbeat() -> None:
    """Scheduled by beat, run by a worker: one beat proves the broker, beat and a worker work."""
    record_heartbeat(f"celery-worker@{socket.gethostname()}")


@shared_task(name="agents.tasks.check_service_health", ignore_result=True)
def check_service_health() -> int:
    """Health-check every registered instance (scheduled by beat); returns how many.

    Idempotent: a check only overwrites the instance's last result, so a redelivered or
    overlapping run does no harm.
    """
    return service_registry.check_all_instances()


@shared_task(name="agents.tasks.trim_event_streams", ignore_result=True)
def trim_event_streams() -> int:
    """Apply the retention window (EVENT_RETENTION_HOURS) to every stream; returns entries cut."""
    return sum(mesh.trim_streams().values())


@shared_task(name="agents.tasks.prune_counted_events", ignore_result=True)
def prune_counted_events() -> int:
    """Forget which events were counted into problems once past the redelivery horizon."""
    kept_for = timedelta(hours=settings.COUNTED_EVENTS_KEPT_HOURS)
    return services.prune_counted_events(timezone.now() - kept_for)


@shared_task(name="agents.tasks.sweep_fingerprint_aliases", ignore_result=True)
def sweep_fingerprint_aliases() -> int:
    """Follow fingerprint merges into the graph (one problem per kind); returns how many
    changed it. Idempotent: a merge already followed changes nothing."""
    done = services.sweep_aliases()
    return done.merged + done.tombstoned


@shared_task(name="agents.tasks.tick_agent", ignore_result=True)
def tick_agent(name: str) -> None:
    """An agent's periodic work; a tick missed while workers were down simply expires."""
    from agents.runtime import run_tick

    run_tick(name)


@shared_task(name="agents.tasks.check_agents", ignore_result=True)
def check_agents() -> list[str]:
    """The watchdog: agents whose heartbeat stopped are marked down and ``agent.down`` raised."""
    from agents.runtime import check_agents as mark_silent_agents_down

    return mark_silent_agents_down()
