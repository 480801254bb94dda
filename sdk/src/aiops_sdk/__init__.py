"""The AI-Ops Core SDK: publish events from a service (see the README).

Importing this package imports neither Django nor redis: plain Python services use the HTTP
clients. ``aiops_sdk.django`` (middleware, log handler) needs Django; the direct-to-Redis
transport needs the ``redis`` extra and is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiops_sdk.aio import AsyncAIOpsClient
from aiops_sdk.client import AIOpsClient
from aiops_sdk.core import ClientStats, RejectedError, RetryableError, TransportError
from aiops_sdk.deploy import deploy_finished
from aiops_sdk.http import AsyncHttpTransport, HttpTransport
from aiops_sdk.logs import LogHandler

if TYPE_CHECKING:
    from aiops_sdk.redis_transport import RedisTransport

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
    "deploy_finished",
]


def __getattr__(name: str) -> Any:
    # Lazy, so `import aiops_sdk` works without the optional redis package.
    if name == "RedisTransport":
        from aiops_sdk.redis_transport import RedisTransport

        return RedisTransport
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
