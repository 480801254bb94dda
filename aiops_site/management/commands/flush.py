"""Django's ``flush`` (``TRUNCATE`` of every table), run as the owner role.

The runtime role has no ``TRUNCATE``, and the audit table refuses it to anyone but its
owner (or a superuser) with ``aiops.allow_audit_truncate`` on, as the test settings set:
transactional tests empty the database with this command between tests.
"""

from __future__ import annotations

from typing import Any

from django.core.management.commands import flush

from aiops_site.database.owner import as_owner


class Command(flush.Command):
    def handle(self, **options: Any) -> None:
        with as_owner(options["database"]):
            super().handle(**options)
