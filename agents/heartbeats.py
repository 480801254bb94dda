"""Heartbeats: each long-running part (worker, beat, agent) says it is alive, in one Redis hash.

The hash maps a component name to the Unix time of its last beat. ``/health`` reads it, so a
component whose beats stop is reported stale (503) instead of looking fine.

``make run`` marks when the current stack started (``mark_started``): beats older than that
belong to a previous run (its components may not exist any more) and are ignored, so after a
restart ``/health`` trusts only what this run has heard.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings

from core.redis import get_redis

HEARTBEATS_KEY = "aiops:heartbeats"
STARTED_KEY = "aiops:stack-started-at"


@dataclass(frozen=True)
class Heartbeat:
    component: str
    last_beat: float
    age_seconds: float
    stale: bool


def record_heartbeat(component: str, *, at: float | None = None) -> None:
    get_redis().hset(HEARTBEATS_KEY, component, at if at is not None else time.time())


def mark_started(at: float | None = None) -> None:
    """The current stack starts now: earlier heartbeats are a previous run's."""
    get_redis().set(STARTED_KEY, at if at is not None else time.time())


def read_heartbeats(now: float | None = None) -> list[Heartbeat]:
    now = time.time() if now is None else now
    stale_after = settings.HEARTBEAT_STALE_SECONDS
    client = get_redis()
    started = float(client.get(STARTED_KEY) or 0)
    beats = []
    for raw_name, raw_value in sorted(client.hgetall(HEARTBEATS_KEY).items()):
        last = float(raw_value)
        if last < started:
            continue  # a previous run's component: not evidence about this one
        age = max(0.0, now - last)
        beats.append(Heartbeat(raw_name.decode(), last, round(age, 1), age > stale_after))
    return beats
