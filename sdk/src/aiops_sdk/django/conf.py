"""The process's shared client, configured from ``settings.AIOPS``, and registration.

Keys of ``AIOPS``: ``SERVICE`` (required), ``INSTANCE`` (default ``role@host:pid``, one per
process), ``ROLE`` (default: read from the command line, see :mod:`aiops_sdk.process`),
``TRANSPORT`` (``"http"``, the default, needs ``URL`` and ``TOKEN``; ``"redis"`` publishes
straight to the mesh at ``REDIS_URL``, default ``settings.REDIS_URL``), ``URL`` (also used
for the service registry), ``TOKEN``, ``REDIS_URL``, ``STREAM_MAXLEN`` and ``VALIDATE`` (a
dotted path to a callable checking each event, for the redis mode), ``BATCH_SIZE``,
``FLUSH_INTERVAL``, ``MAX_BUFFER``; for the app (``AIOpsConfig``): ``LOGGING`` (attach the
log handler, default True), ``CELERY`` (hook task failures, default True), ``REGISTER``
(False, True, or the arguments of :meth:`aiops_sdk.AIOpsClient.register`; default True).
"""

from __future__ import annotations

import os
import threading
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from aiops_sdk.client import AIOpsClient
from aiops_sdk.core import THREAD_PREFIX, logger
from aiops_sdk.process import default_instance, is_serving

KNOWN_KEYS = frozenset(
    {
        "URL",
        "TOKEN",
        "SERVICE",
        "INSTANCE",
        "ROLE",
        "TRANSPORT",
        "REDIS_URL",
        "STREAM_MAXLEN",
        "VALIDATE",
        "BATCH_SIZE",
        "FLUSH_INTERVAL",
        "MAX_BUFFER",
        "LOGGING",
        "CELERY",
        "REGISTER",
    }
)

_lock = threading.RLock()
_client: AIOpsClient | None = None
_client_pid: int | None = None
# What register() was asked for in this (or a parent) process: a forked worker of a
# prefork server registers itself again with its own instance id.
_registration: dict[str, Any] | None = None


def aiops_settings() -> dict[str, Any]:
    """``settings.AIOPS``, checked: bad or missing keys raise ``ImproperlyConfigured``."""
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
    return config


def client_from_settings() -> AIOpsClient:
    """A new client built from ``settings.AIOPS``."""
    config = aiops_settings()
    options: dict[str, Any] = {
        key.lower(): config[key]
        for key in ("BATCH_SIZE", "FLUSH_INTERVAL", "MAX_BUFFER")
        if key in config
    }
    transport = None
    if config.get("TRANSPORT", "http") == "redis":
        transport = _redis_transport(config)
    return AIOpsClient(
        config.get("URL"),
        config.get("TOKEN"),
        service=config["SERVICE"],
        instance=config.get("INSTANCE") or default_instance(config.get("ROLE")),
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
    connections do not survive it; a registered parent's child registers itself)."""
    global _client, _client_pid
    with _lock:
        if _client is None or _client_pid != os.getpid():
            forked = _client is not None
            _client = client_from_settings()
            _client_pid = os.getpid()
            if forked and _registration is not None:
                _register_in_background(_client, _registration)
        return _client


def _register_in_background(client: AIOpsClient, registration: dict[str, Any]) -> None:
    # Off the caller's thread: the first emit of a forked worker must not wait on the registry.
    threading.Thread(
        target=client.register,
        kwargs=registration,
        name=f"{THREAD_PREFIX}-register",
        daemon=True,
    ).start()


def reset_client(timeout: float = 2.0) -> None:
    """Close (flushing) and forget the shared client; the next use builds a new one."""
    global _client, _client_pid, _registration
    with _lock:
        client, _client, _client_pid, _registration = _client, None, None, None
    if client is not None:
        client.close(timeout)


def _setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == "AIOPS":  # override_settings in tests, mostly
        reset_client()


setting_changed.connect(_setting_changed)


def register(*, force: bool = False, **registration: Any) -> bool:
    """Register this process with the service registry and start its heartbeat (arguments
    as :meth:`aiops_sdk.AIOpsClient.register`). Only in a serving process (web server,
    Celery worker; see :func:`aiops_sdk.process.is_serving`) unless ``force``: a
    ``manage.py migrate`` is not an instance of the service. Returns whether it registered.
    """
    global _registration
    if not (force or is_serving(role=getattr(settings, "AIOPS", {}).get("ROLE"))):
        logger.debug("not a serving process: not registering")
        return False
    _registration = dict(registration)
    return get_client().register(**registration)
