"""One Redis client per process, for the event mesh, heartbeats and health checks."""

from __future__ import annotations

import os

import redis
from django.conf import settings

from core import redis_retry

_client: redis.Redis | None = None
_client_pid: int | None = None


def get_redis() -> redis.Redis:
    """Return this process's client (a fresh one after fork: sockets must not be shared)."""
    global _client, _client_pid
    if _client is None or _client_pid != os.getpid():
        # Retries with backoff ride out a Redis restart (see core/redis_retry.py).
        _client = redis.Redis.from_url(settings.REDIS_URL, **redis_retry.sync_options())
        _client_pid = os.getpid()
    return _client
