"""The AI-Ops Core SDK: publish events from a service (see ``docs/sdk.md``).

Importing this package imports no Django: plain Python services use the HTTP clients.
``agents.sdk.django`` (middleware, log handler) and the direct-to-Redis transport need
Django settings.
"""

from __future__ import annotations

from agents.sdk.aio import AsyncAIOpsClient
from agents.sdk.client import AIOpsClient
from agents.sdk.core import ClientStats, RejectedError, RetryableError, TransportError
from agents.sdk.http import AsyncHttpTransport, HttpTransport
from agents.sdk.logs import LogHandler
from agents.sdk.redis_transport import RedisTransport

__all__ = [
    "AIOpsClient",
    "AsyncAIOpsClient",
    "AsyncHttpTransport",
    "ClientStats",
    "HttpTransport",
    "LogHandler",
    "RedisTransport",
    "RejectedError",
    "RetryableError",
    "TransportError",
]
