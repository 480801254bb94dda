"""Django's ``migrate``, run as the owner role (``DATABASE_MIGRATE_URL``).

Tables belong to the owner; the app's runtime role gets rows, not DDL (see
``aiops_site/database/owner.py``). Every caller (``make run``, compose's setup job,
pytest-django's test database) reaches this command through ``call_command("migrate")``.
"""

from __future__ import annotations

from typing import Any

from django.core.management.commands import migrate

from aiops_site.database.owner import as_owner


class Command(migrate.Command):
    def handle(self, *args: Any, **options: Any) -> Any:
        with as_owner(options["database"]):
            return super().handle(*args, **options)
