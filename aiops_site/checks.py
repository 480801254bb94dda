"""Django system checks for the backing services (run by ``manage.py check`` and at start-up)."""

from __future__ import annotations

import os
from typing import Any

import redis
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.db import DatabaseError, connections

from aiops_site.redis_client import get_redis


@register("aiops")
def check_redis(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    try:
        get_redis().ping()
    except redis.RedisError as exc:
        return [
            Error(
                f"Redis at REDIS_URL is unreachable: {exc}",
                hint="Start Redis or unset REDIS_URL to use the embedded server.",
                id="aiops.E001",
            )
        ]
    return []


@register("aiops")
def check_broker(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if not str(settings.CELERY_BROKER_URL).startswith(("redis://", "rediss://")):
        return [Error("CELERY_BROKER_URL must be a Redis URL", id="aiops.E003")]
    return []


@register(Tags.database)
def check_pgvector(app_configs: Any = None, databases: Any = None, **kwargs: Any) -> list:
    if not databases:
        return []
    errors: list[CheckMessage] = []
    for alias in databases:
        try:
            with connections[alias].cursor() as cursor:
                cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
                available = cursor.fetchone() is not None
        except DatabaseError as exc:
            errors.append(Error(f"database {alias!r} is unreachable: {exc}", id="aiops.E004"))
            continue
        if not available:
            errors.append(
                Error(
                    f"database {alias!r} has no pgvector extension available",
                    hint="Install pgvector on the PostgreSQL server (0.6 or newer).",
                    id="aiops.E002",
                )
            )
    return errors


@register("aiops", deploy=True)
def check_audit_key(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Deployments (``check --deploy``) should keep the audit key apart from SECRET_KEY."""
    if os.environ.get("AIOPS_AUDIT_KEY"):
        return []
    return [
        Warning(
            "AIOPS_AUDIT_KEY is not set: the audit chain's key is derived from SECRET_KEY, so "
            "rotating SECRET_KEY would make the existing chain unverifiable.",
            hint="Set AIOPS_AUDIT_KEY to a long random string kept outside the database.",
            id="aiops.W001",
        )
    ]
