"""Django system checks for the backing services (run by ``manage.py check`` and at start-up)."""

from __future__ import annotations

import os
from typing import Any

import redis
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.db import DatabaseError, connections

from core.redis import get_redis


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


# Streams, the Celery queue and the mesh's dedup keys (which carry a TTL) are the record:
# a policy that evicts any key, volatile-* included, loses events or repeats them silently.
SAFE_MAXMEMORY_POLICY = "noeviction"


@register("aiops")
def check_redis_eviction(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    try:
        policy = get_redis().config_get("maxmemory-policy").get("maxmemory-policy")
    except redis.ResponseError as exc:
        # Managed Redis services often disable CONFIG; say so rather than pass in silence.
        return [
            Warning(
                f"could not read Redis's maxmemory-policy ({exc}); it must be noeviction",
                id="aiops.W005",
            )
        ]
    except redis.RedisError:
        return []  # unreachable: aiops.E001 says so
    if policy is not None and policy != SAFE_MAXMEMORY_POLICY:
        return [
            Error(
                f"Redis evicts keys (maxmemory-policy {policy}): events, queued tasks and "
                "dedup records would be lost silently",
                hint="Set maxmemory-policy noeviction on the Redis server (see docs/deploy.md).",
                id="aiops.E005",
            )
        ]
    return []


@register(Tags.database)
def check_schema(app_configs: Any = None, databases: Any = None, **kwargs: Any) -> list:
    """With AIOPS_DB_SCHEMA set, the schema must exist: PostgreSQL would otherwise create
    every table in the next schema on the search_path (public) without a word."""
    schema = settings.AIOPS_DB_SCHEMA
    if not schema or not databases:
        return []
    errors: list[CheckMessage] = []
    for alias in databases:
        try:
            with connections[alias].cursor() as cursor:
                cursor.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [schema])
                exists = cursor.fetchone() is not None
        except DatabaseError:
            continue  # aiops.E004 reports it
        if not exists:
            errors.append(
                Error(
                    f"schema {schema!r} (AIOPS_DB_SCHEMA) does not exist in database {alias!r}",
                    hint=f"CREATE SCHEMA {schema}; (compose does it in deploy/postgres/init.sql)",
                    id="aiops.E006",
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


# What the app's own connection may do to the audit table, beyond reading and appending.
AUDIT_ROLE_QUERY = """
SELECT r.rolsuper,
       t.oid IS NOT NULL AND pg_has_role(current_user, t.relowner, 'MEMBER'),
       t.oid IS NOT NULL AND (has_table_privilege(t.oid, 'UPDATE')
                              OR has_table_privilege(t.oid, 'DELETE')
                              OR has_table_privilege(t.oid, 'TRUNCATE'))
  FROM pg_roles r
  LEFT JOIN pg_class t ON t.oid = to_regclass('remediation_auditentry')
 WHERE r.rolname = current_user
"""


@register(Tags.database)
def check_runtime_role(app_configs: Any = None, databases: Any = None, **kwargs: Any) -> list:
    """The app should connect as a role that cannot rewrite, empty or unguard the audit
    table: not a superuser, not its owner (docs/deploy.md, "Database roles")."""
    if not databases or "default" not in databases:
        return []
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute(AUDIT_ROLE_QUERY)
            superuser, owner, may_rewrite = cursor.fetchone()
    except DatabaseError:
        return []  # aiops.E004 reports it
    reason = (
        "a superuser" if superuser
        else "the audit table's owner" if owner
        else "a role that may UPDATE, DELETE or TRUNCATE the audit table" if may_rewrite
        else ""
    )  # fmt: skip
    if not reason:
        return []
    return [
        Warning(
            f"The app connects to PostgreSQL (DATABASE_URL) as {reason}: a compromised app "
            "could rewrite or empty the audit log, or switch off its triggers.",
            hint="Give DATABASE_URL a runtime role and DATABASE_MIGRATE_URL the owner role "
            "(see docs/deploy.md, Database roles).",
            id="aiops.W007",
        )
    ]


@register(Tags.database)
def check_owner_role(app_configs: Any = None, databases: Any = None, **kwargs: Any) -> list:
    """The owner role (``DATABASE_MIGRATE_URL``) should own the app's schema and tables and
    hold no power beyond them: not a superuser, no ``CREATEDB``, no ``CREATEROLE``."""
    owner = (connections["default"].settings_dict.get("MIGRATE_AS") or {}).get("USER")
    if not databases or "default" not in databases or not owner:
        return []
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute(
                "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = %s",
                [owner],
            )
            found = cursor.fetchone()
    except DatabaseError:
        return []  # aiops.E004 reports it
    if found is None:
        return []  # no such role: migrate itself fails, naming it
    superuser, createdb, createrole = found
    powers = (
        ["is a superuser"] if superuser
        else [power for held, power in ((createdb, "can create databases"),
                                        (createrole, "can create roles")) if held]
    )  # fmt: skip
    if not powers:
        return []
    return [
        Warning(
            f"The role that runs migrations, {owner} (DATABASE_MIGRATE_URL), "
            f"{' and '.join(powers)}. It only needs to own AI-Ops Core's tables: anyone who "
            "learns its password could use the rest.",
            hint=f"As an administrator: ALTER ROLE {owner} NOSUPERUSER NOCREATEDB NOCREATEROLE; "
            "and create the vector extension yourself (deploy/postgres/roles.sh and init.sql "
            "do both; docs/deploy.md, Database roles).",
            id="aiops.W008",
        )
    ]
