"""The Wagtail site's own PostgreSQL database, in the embedded server the tests already use.

Migrating a fresh Wagtail site takes about half a minute, so a migrated *template* database
is built once per Wagtail version and every run gets a copy (``CREATE DATABASE ...
TEMPLATE``, a file copy inside the server: well under a second). The run's database is
dropped when the site closes. Its URL reaches the site through ``SITE_DATABASE_URL``
(``site_settings.py``), as a deployment would hand a Django site its database.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from importlib.metadata import version
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from aiops_site.stack import database_url

TEMPLATE = "realapp_wagtail_" + version("wagtail").replace(".", "_")


def url_for(name: str) -> str:
    """The URL of database ``name`` on the server this test run uses, as the owner role (it
    may create databases; the Wagtail site owns its own)."""
    parts = urlsplit(database_url(as_owner=True))
    return urlunsplit(parts._replace(path=f"/{name}"))


def _admin() -> psycopg.Connection:
    # CREATE / DROP DATABASE cannot run inside a transaction block.
    return psycopg.connect(url_for("postgres"), autocommit=True)


def _exists(connection: psycopg.Connection, name: str) -> bool:
    found = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
    return found.fetchone() is not None


def ensure_template(migrate: Callable[[str], None]) -> None:
    """Build the migrated template once: ``migrate(url)`` migrates the database at ``url``.

    It is built under a scratch name and renamed only once migrated, so an interrupted build
    is never taken for a finished one.
    """
    with _admin() as admin:
        if _exists(admin, TEMPLATE):
            return
        scratch = TEMPLATE + "_building"
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(scratch)))  # fmt: skip
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(scratch)))
    migrate(url_for(scratch))
    with _admin() as admin:
        admin.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
            sql.Identifier(scratch), sql.Identifier(TEMPLATE)))  # fmt: skip


def create_copy() -> str:
    """A fresh copy of the template for one run; returns its name."""
    name = f"realapp_site_{secrets.token_hex(4)}"
    with _admin() as admin:
        admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(TEMPLATE)))  # fmt: skip
    return name


def drop(name: str) -> None:
    with _admin() as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))  # fmt: skip
