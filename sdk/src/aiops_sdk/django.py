"""Django integration: a middleware emitting ``api.request`` and a handler emitting
``log.line``, both through one lazily created client configured from ``settings.AIOPS``::

    AIOPS = {"URL": "https://aiops.internal", "TOKEN": "...", "SERVICE": "bookmarks"}
    MIDDLEWARE = ["aiops_sdk.django.AIOpsRequestMiddleware", *MIDDLEWARE]
    LOGGING["handlers"]["aiops"] = {"class": "aiops_sdk.django.AIOpsLogHandler"}
    # ... and "aiops" in the root logger's handlers

Keys of ``AIOPS``: ``SERVICE`` (required), ``INSTANCE`` (default: the host name),
``TRANSPORT`` (``"http"``, the default, needs ``URL`` and ``TOKEN``; ``"redis"`` publishes
straight to the mesh at ``REDIS_URL``, default ``settings.REDIS_URL``), ``URL`` (also used
for the service registry), ``TOKEN``, ``REDIS_URL``, ``STREAM_MAXLEN`` and ``VALIDATE`` (a
dotted path to a callable checking each event, for the redis mode), ``BATCH_SIZE``,
``FLUSH_INTERVAL``, ``MAX_BUFFER``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.http import HttpRequest, HttpResponseBase
from django.utils.module_loading import import_string

from aiops_sdk.base import ClientBase
from aiops_sdk.client import AIOpsClient
from aiops_sdk.core import logger
from aiops_sdk.logs import LogHandler

KNOWN_KEYS = frozenset(
    {
        "URL",
        "TOKEN",
        "SERVICE",
        "INSTANCE",
        "TRANSPORT",
        "REDIS_URL",
        "STREAM_MAXLEN",
        "VALIDATE",
        "BATCH_SIZE",
        "FLUSH_INTERVAL",
        "MAX_BUFFER",
    }
)
UNMATCHED_ENDPOINT = "<unmatched>"  # a 404 before any route matched: never the raw path
CORRELATION_HEADERS = ("X-Correlation-ID", "X-Request-ID")

_lock = threading.RLock()
_client: AIOpsClient | None = None
_client_pid: int | None = None


# --- The shared client ---------------------------------------------------------------------


def client_from_settings() -> AIOpsClient:
    """A new client built from ``settings.AIOPS``; bad or missing keys raise
    ``ImproperlyConfigured`` naming them."""
    config: dict[str, Any] = getattr(settings, "AIOPS", None) or {}
    if not isinstance(config, dict) or not config:
        raise ImproperlyConfigured('settings.AIOPS must be a dict, e.g. {"URL": ..., ...}')
    unknown = set(config) - KNOWN_KEYS
    if unknown:
        raise ImproperlyConfigured(f"settings.AIOPS has unknown keys: {sorted(unknown)}")
    if not config.get("SERVICE"):
        raise ImproperlyConfigured('settings.AIOPS["SERVICE"] is required')
    mode = config.get("TRANSPORT", "http")
    if mode not in ("http", "redis"):
        raise ImproperlyConfigured('settings.AIOPS["TRANSPORT"] must be "http" or "redis"')
    if mode == "http" and not (config.get("URL") and config.get("TOKEN")):
        raise ImproperlyConfigured('settings.AIOPS needs "URL" and "TOKEN" (or TRANSPORT "redis")')
    options: dict[str, Any] = {
        key.lower(): config[key]
        for key in ("BATCH_SIZE", "FLUSH_INTERVAL", "MAX_BUFFER")
        if key in config
    }
    transport = None
    if mode == "redis":
        transport = _redis_transport(config)
    return AIOpsClient(
        config.get("URL"),
        config.get("TOKEN"),
        service=config["SERVICE"],
        instance=config.get("INSTANCE"),
        transport=transport,
        **options,
    )


def _redis_transport(config: dict[str, Any]) -> Any:
    from aiops_sdk.redis_transport import DEFAULT_STREAM_MAXLEN, RedisTransport

    url = config.get("REDIS_URL") or getattr(settings, "REDIS_URL", None)
    if not url:
        raise ImproperlyConfigured('TRANSPORT "redis" needs settings.AIOPS["REDIS_URL"]')
    validate = config.get("VALIDATE")
    return RedisTransport(
        url,
        validate=import_string(validate) if isinstance(validate, str) else validate,
        maxlen=config.get("STREAM_MAXLEN", DEFAULT_STREAM_MAXLEN),
    )


def get_client() -> AIOpsClient:
    """This process's shared client (a new one after fork: the flusher thread and the
    connections do not survive it)."""
    global _client, _client_pid
    with _lock:
        if _client is None or _client_pid != os.getpid():
            _client = client_from_settings()
            _client_pid = os.getpid()
        return _client


def reset_client(timeout: float = 2.0) -> None:
    """Close (flushing) and forget the shared client; the next use builds a new one."""
    global _client, _client_pid
    with _lock:
        client, _client, _client_pid = _client, None, None
    if client is not None:
        client.close(timeout)


def _setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == "AIOPS":  # override_settings in tests, mostly
        reset_client()


setting_changed.connect(_setting_changed)


# --- Middleware -----------------------------------------------------------------------------


def endpoint_of(request: HttpRequest) -> str:
    """The matched route pattern (``/bookmarks/<int:pk>/``): one series per endpoint, not one
    per bookmark id, so the monitor can compare like with like."""
    match = getattr(request, "resolver_match", None)
    if match is None or not match.route:
        return UNMATCHED_ENDPOINT
    return "/" + match.route.removeprefix("/")


def _correlation_id(request: HttpRequest) -> str | None:
    for header in CORRELATION_HEADERS:
        value = request.headers.get(header)
        if value:
            return value[:200]
    return None


def _user_id(user: Any) -> str | None:
    return str(user.pk) if user is not None and user.is_authenticated else None


class AIOpsRequestMiddleware:
    """Emit one ``api.request`` per request: method, endpoint (route pattern), status,
    latency_ms and, when authenticated, user_id. Put it first in ``MIDDLEWARE`` so the
    latency covers the whole stack. Works under WSGI and ASGI without thread hops."""

    sync_capable = True
    async_capable = True

    def __init__(
        self, get_response: Callable[[HttpRequest], HttpResponseBase | Awaitable[HttpResponseBase]]
    ) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)
        get_client()  # a misconfiguration fails at start-up, not on the first request

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        started = time.perf_counter()
        response = self.get_response(request)
        self._emit(request, response, started, _user_id(getattr(request, "user", None)))
        return response

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        started = time.perf_counter()
        response = await self.get_response(request)
        auser = getattr(request, "auser", None)
        user = await auser() if auser is not None else None
        self._emit(request, response, started, _user_id(user))
        return response

    def _emit(
        self,
        request: HttpRequest,
        response: HttpResponseBase,
        started: float,
        user_id: str | None,
    ) -> None:
        try:
            payload: dict[str, Any] = {
                "method": request.method or "GET",
                "endpoint": endpoint_of(request),
                "status": response.status_code,
                "latency_ms": round((time.perf_counter() - started) * 1000, 3),
            }
            if user_id is not None:
                payload["user_id"] = user_id
            get_client().emit(
                "api.request",
                payload,
                severity="error" if response.status_code >= 500 else "info",
                correlation_id=_correlation_id(request),
            )
        except Exception:
            # Telemetry must never fail the request it describes.
            logger.warning("could not emit api.request", exc_info=True)


# --- Logging --------------------------------------------------------------------------------


class AIOpsLogHandler(LogHandler):
    """``log.line`` for records >= ERROR, through the shared client (made on first use, so
    configuring logging starts no thread and opens no connection)."""

    def __init__(self, level: int | str = "ERROR", client: ClientBase | None = None) -> None:
        super().__init__(client, level)

    def get_client(self) -> ClientBase | None:
        return self._client or get_client()


# --- Service registry ----------------------------------------------------------------------


def register(**registration: Any) -> bool:
    """Register this instance with the shared client and start its heartbeat thread
    (arguments as :meth:`aiops_sdk.AIOpsClient.register`); call it from ``AppConfig.ready``."""
    return get_client().register(**registration)
