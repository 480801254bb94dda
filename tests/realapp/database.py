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

from aiops_site.database import testing
from aiops_site.stack import database_url

TEMPLATE = "realapp_wagtail_" + version("wagtail").replace(".", "_")


def url_for(name: str) -> str:
    """The URL of database ``name`` on the server this test run uses, as the owner role: the
    Wagtail site owns its own database, as the owner owns AI-Ops Core's."""
    parts = urlsplit(database_url(as_owner=True))
    return urlunsplit(parts._replace(path=f"/{name}"))


def _exists(connection: psycopg.Connection, name: str) -> bool:
    found = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
    return found.fetchone() is not None


def ensure_template(migrate: Callable[[str], None]) -> None:
    """Build the migrated template once: ``migrate(url)`` migrates the database at ``url``.

    It is built under a scratch name and renamed only once migrated, so an interrupted build
    is never taken for a finished one.
    """
    # Created and renamed by the test administrator (the owner may not create databases).
    with testing.connect() as admin:
        if _exists(admin, TEMPLATE):
            return
    scratch = TEMPLATE + "_building"
    testing.drop_database(scratch)
    testing.create_database(scratch)
    migrate(url_for(scratch))
    with testing.connect() as admin:
        admin.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
            sql.Identifier(scratch), sql.Identifier(TEMPLATE)))  # fmt: skip


def create_copy() -> str:
    """A fresh copy of the template for one run; returns its name."""
    name = f"realapp_site_{secrets.token_hex(4)}"
    testing.create_database(name, template=TEMPLATE)
    return name


def drop(name: str) -> None:
    testing.drop_database(name)
