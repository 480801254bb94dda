"""How every Redis client of the project rides out a Redis restart: retry with backoff.

The mesh client, the cache, the channel layer (asyncio) and Celery's broker all connect to
the same Redis. When it restarts (the supervisor brings it back on the same port within a
second or two), a command on a dead connection fails with ``ConnectionError``; with these
options the client drops the connection and retries on a fresh one after an exponential,
jittered delay, instead of failing the caller at once. ``health_check_interval`` pings a
connection idle for that long before using it, so a stale socket is found before a command.

The budget stays short (about 6 s over 6 tries): a request handler should answer 503 soon
rather than hang; loops (the mesh consumers, Celery) retry on their own beyond it.
"""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry

RETRIES = 6
BACKOFF_BASE_SECONDS = 0.1
BACKOFF_CAP_SECONDS = 2.0
HEALTH_CHECK_INTERVAL_SECONDS = 15
SOCKET_CONNECT_TIMEOUT_SECONDS = 2
SOCKET_TIMEOUT_SECONDS = 5


def _backoff() -> ExponentialWithJitterBackoff:
    return ExponentialWithJitterBackoff(base=BACKOFF_BASE_SECONDS, cap=BACKOFF_CAP_SECONDS)


def sync_options() -> dict[str, Any]:
    """Connection options for redis-py's synchronous clients and pools (mesh, cache)."""
    return {
        "retry": Retry(_backoff(), RETRIES),
        "retry_on_error": [redis.ConnectionError, redis.TimeoutError],
        "health_check_interval": HEALTH_CHECK_INTERVAL_SECONDS,
        "socket_connect_timeout": SOCKET_CONNECT_TIMEOUT_SECONDS,
        "socket_timeout": SOCKET_TIMEOUT_SECONDS,
    }


def async_options() -> dict[str, Any]:
    """The same for redis.asyncio pools (the channel layer). No socket timeout: the layer
    blocks on BLPOP-like reads longer than any fixed timeout would allow."""
    return {
        "retry": AsyncRetry(_backoff(), RETRIES),
        "retry_on_error": [redis.asyncio.ConnectionError, redis.asyncio.TimeoutError],
        "health_check_interval": HEALTH_CHECK_INTERVAL_SECONDS,
        "socket_connect_timeout": SOCKET_CONNECT_TIMEOUT_SECONDS,
    }


def celery_transport_options() -> dict[str, Any]:
    """kombu's Redis transport passes these to its redis-py connections."""
    return {
        "retry_on_timeout": True,
        "health_check_interval": HEALTH_CHECK_INTERVAL_SECONDS,
        "socket_connect_timeout": SOCKET_CONNECT_TIMEOUT_SECONDS,
        "socket_keepalive": True,
    }
