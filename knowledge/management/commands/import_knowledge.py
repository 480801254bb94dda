"""Load a knowledge export (``export_knowledge``); importing the same file twice changes
nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from knowledge.backup import BackupFormatError, import_knowledge


class Command(BaseCommand):
    help = "Import a knowledge export JSON file (idempotent, all or nothing)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read {path}: {exc}") from None
        try:
            stats = import_knowledge(data, progress=not options["no_progress"])
        except BackupFormatError as exc:
            raise CommandError(f"{path}: {exc}") from None
        changed = ", ".join(f"{count} {kind}" for kind, count in stats.items())
        self.stdout.write(self.style.SUCCESS(f"Imported {path}: {changed} created or changed."))
