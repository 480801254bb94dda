"""Let problems follow their fingerprints' current templates (once, after upgrading)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from knowledge import services


class Command(BaseCommand):
    help = (
        "Give every problem the more general log template its fingerprint stands for now, "
        "and the matching title where the title was never edited by hand."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        changed = services.follow_templates()
        self.stdout.write(self.style.SUCCESS(f"{changed} problems now follow their template."))
