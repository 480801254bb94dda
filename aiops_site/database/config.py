"""``DATABASES["default"]`` from the database variables that ``settings.py`` reads.

Three roles (docs/deploy.md, "Database roles"): ``DATABASE_URL`` is the app's runtime role
(rows, no DDL, the audit table append-only); ``DATABASE_MIGRATE_URL`` the owner's, for
``migrate`` and ``flush`` (``MIGRATE_AS``); ``DATABASE_TEST_ADMIN_URL`` the test suite's
administrator, which creates and drops test databases and ends sessions
(``TEST["ADMIN"]``, ``testing.py``). Bad values are refused with ``ImproperlyConfigured``.
"""

from __future__ import annotations

from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

#: The keys of a settings dict that name who connects (owner.py and testing.py swap them).
CREDENTIALS = ("USER", "PASSWORD", "HOST", "PORT")


def _credentials(url: str) -> dict[str, Any]:
    parsed = dj_database_url.parse(url)
    return {key: parsed[key] for key in CREDENTIALS}


def database_settings(
    url: str,
    *,
    migrate_url: str,
    test_admin_url: str,
    schema: str,
    test_name: str,
    testing: bool,
) -> dict[str, Any]:
    """The settings dict of the one database alias."""
    database = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    if database["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured(
            "DATABASE_URL must be a postgresql:// URL (pgvector is required)"
        )
    database["ENGINE"] = "aiops_site.database"  # django-prometheus's, test DBs as admin
    if migrate_url:
        if dj_database_url.parse(migrate_url)["NAME"] != database["NAME"]:
            raise ImproperlyConfigured("DATABASE_MIGRATE_URL must name DATABASE_URL's database")
        database["MIGRATE_AS"] = _credentials(migrate_url)
    # The plan's dedicated schema: every table in it, pgvector's types found in public.
    if schema:
        if not schema.isidentifier() or schema.lower() != schema:
            raise ImproperlyConfigured(
                f"AIOPS_DB_SCHEMA={schema!r} must be a lower-case identifier (e.g. ai_ops)"
            )
        database.setdefault("OPTIONS", {})["options"] = f"-c search_path={schema},public"
    # NAME lets parallel test runs on one server keep apart (default: test_<name>).
    database["TEST"] = {
        "NAME": test_name or None,
        "ADMIN": _credentials(test_admin_url) if test_admin_url else None,
    }
    if testing:
        # Django empties tables between tests with TRUNCATE, which the audit log's trigger
        # refuses unless the owner's session sets this (remediation migrations 0004, 0007).
        options = database.setdefault("OPTIONS", {})
        guard = "-c aiops.allow_audit_truncate=on"
        options["options"] = f"{options.get('options', '')} {guard}".strip()
    return database
