"""Verify the audit log's hash chain; exit status 1 and the first broken link if tampered."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from remediation.audit import verify_chain


class Command(BaseCommand):
    help = "Recompute the remediation audit hash chain and report the first broken link."

    def handle(self, *args: Any, **options: Any) -> None:
        checked, broken = verify_chain()
        if broken is not None:
            raise CommandError(
                f"audit chain broken at entry {broken.entry_id}: {broken.reason} "
                f"({checked} entries read)"
            )
        self.stdout.write(self.style.SUCCESS(f"Audit chain intact: {checked} entries."))
