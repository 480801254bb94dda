"""The project's database backend: django-prometheus's PostgreSQL backend, plus one change.

Creating and dropping test databases (``_nodb_cursor``: pytest-django, ``manage.py test``)
connects as the test administrator (``testing.py``): neither the runtime role nor the
owner may ``CREATE DATABASE``. The test database is created ``OWNER`` the owner role, which
then migrates it. Everything else connects as the runtime role.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from django.db.backends.postgresql import creation
from django_prometheus.db.backends.postgresql import base

from aiops_site.database import testing


class DatabaseCreation(creation.DatabaseCreation):
    def _execute_create_test_db(
        self, cursor: Any, parameters: dict[str, str], keepdb: bool = False
    ) -> None:
        # Made by the test administrator, the database must still be the owner's: the owner
        # owns its public schema then, where migrate creates the tables.
        owner = testing.owner(self.connection.settings_dict)
        if owner:  # no user in the URL: the server's default, who creates it, owns it
            options = parameters["suffix"].removeprefix("WITH").strip()
            clause = f"WITH OWNER {self.connection.ops.quote_name(owner)} {options}"
            parameters = {**parameters, "suffix": clause.strip()}
        super()._execute_create_test_db(cursor, parameters, keepdb)


class DatabaseWrapper(base.DatabaseWrapper):
    creation_class = DatabaseCreation

    @contextlib.contextmanager
    def _nodb_cursor(self) -> Iterator[Any]:
        admin = testing.credentials(self.settings_dict)
        if admin.get("USER") == self.settings_dict.get("USER"):
            with super()._nodb_cursor() as cursor:
                yield cursor
            return
        settings = testing.admin_settings(self.settings_dict)
        with self.__class__(settings, self.alias)._nodb_cursor() as cursor:
            yield cursor
