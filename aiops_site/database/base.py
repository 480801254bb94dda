"""The project's database backend: django-prometheus's PostgreSQL backend, plus one change.

Creating and dropping test databases (``_nodb_cursor``: pytest-django, ``manage.py test``)
connects as the owner role (``DATABASES[alias]["MIGRATE_AS"]``), because the runtime role
may not ``CREATE DATABASE``. Everything else connects as the runtime role.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from django_prometheus.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    @contextlib.contextmanager
    def _nodb_cursor(self) -> Iterator[Any]:
        owner = self.settings_dict.get("MIGRATE_AS")
        if not owner:
            with super()._nodb_cursor() as cursor:
                yield cursor
            return
        as_owner = self.__class__({**self.settings_dict, **owner, "MIGRATE_AS": None}, self.alias)
        with as_owner._nodb_cursor() as cursor:
            yield cursor
