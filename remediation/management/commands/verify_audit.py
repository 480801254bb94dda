"""Verify the audit log's keyed chain and its anchored head; exit status 1 if tampered."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from remediation.audit import Head, anchored_head, verify_chain


class Command(BaseCommand):
    help = (
        "Recompute the remediation audit chain (HMAC) and check that the head anchored in "
        "Redis (or given with --head) is still in it; report the first broken link."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--head",
            help="ID:HASH of a known head (from an 'audit head' log line) instead of Redis's.",
        )

    def handle(self, *args: Any, head: str | None = None, **options: Any) -> None:
        try:
            anchor = Head.parse(head) if head else anchored_head()
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if anchor is None:
            self.stderr.write(
                self.style.WARNING(
                    "No anchored head (Redis has none; pass --head from the logs): a deleted "
                    "tail or a truncated table cannot be detected."
                )
            )
        checked, broken = verify_chain(anchor)
        if broken is not None:
            raise CommandError(
                f"audit chain broken at entry {broken.entry_id}: {broken.reason} "
                f"({checked} entries read)"
            )
        where = f", head #{anchor.entry_id} anchored" if anchor else ""
        self.stdout.write(self.style.SUCCESS(f"Audit chain intact: {checked} entries{where}."))
