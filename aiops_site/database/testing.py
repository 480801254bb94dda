"""The test-only administrative path: create and drop databases, end other sessions.

Tests (and benchmarks) need powers no production role should hold: pytest-django creates
``test_aiops``, the Wagtail site gets databases copied from a template, scratch databases come
and go, and outage tests end the app's sessions. They connect for those operations alone as
the test administrator, ``DATABASES[alias]["TEST"]["ADMIN"]`` (from
``DATABASE_TEST_ADMIN_URL``; on the embedded server the ``aiops_test_admin`` role, see
``roles.py`` for why not the superuser). Everything else in a test still runs as the runtime
role, and ``migrate`` as the owner.

Databases made here are handed to the owner (``CREATE DATABASE ... OWNER``): the owner then
owns their ``public`` schema, so ``migrate`` can create tables in it, as in production.

Without a test administrator (an external server, ``DATABASE_TEST_ADMIN_URL`` unset) the
owner does this, then needs ``CREATEDB`` itself; without an owner, the runtime role.
"""

from __future__ import annotations

from typing import Any

import psycopg
from django.db import connections
from psycopg import sql

from aiops_site.database.config import CREDENTIALS


def credentials(settings_dict: dict[str, Any]) -> dict[str, Any]:
    """``USER``, ``PASSWORD``, ``HOST``, ``PORT`` of whoever administers test databases."""
    admin = (settings_dict.get("TEST") or {}).get("ADMIN") or settings_dict.get("MIGRATE_AS")
    return admin or {key: settings_dict.get(key) for key in CREDENTIALS}


def owner(settings_dict: dict[str, Any]) -> str:
    """The role that owns the tables (and so the databases made for them)."""
    return str((settings_dict.get("MIGRATE_AS") or settings_dict)["USER"] or "")


def admin_settings(settings_dict: dict[str, Any]) -> dict[str, Any]:
    """``settings_dict`` with the test administrator's credentials: its OPTIONS (sslmode, a
    service file) and every other key kept, so the administrator reaches the same server the
    same way the app does."""
    test = {**(settings_dict.get("TEST") or {}), "ADMIN": None}
    return {**settings_dict, **credentials(settings_dict), "MIGRATE_AS": None, "TEST": test}


def connect(dbname: str = "postgres", alias: str = "default") -> psycopg.Connection:
    """An autocommit connection to ``dbname`` as the test administrator (``CREATE`` and
    ``DROP DATABASE`` refuse a transaction block), with the parameters the backend itself
    would use (``get_connection_params``), not a second reading of the settings."""
    connection = connections[alias]
    settings = {**admin_settings(connection.settings_dict), "NAME": dbname}
    admin = connection.__class__(settings, alias)
    return psycopg.connect(**admin.get_connection_params(), autocommit=True)


def create_database(name: str, *, template: str | None = None, alias: str = "default") -> None:
    """Create database ``name`` (a copy of ``template`` if given), owned by the owner role."""
    statement = sql.SQL("CREATE DATABASE {} OWNER {}").format(
        sql.Identifier(name), sql.Identifier(owner(connections[alias].settings_dict))
    )
    if template:
        statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
    with connect(alias=alias) as admin:
        admin.execute(statement)


def drop_database(name: str, alias: str = "default") -> None:
    """Drop database ``name`` if it exists, ending the sessions still in it."""
    with connect(alias=alias) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
