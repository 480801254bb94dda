"""Load the bookmark-manager seed catalogue into the knowledge graph (idempotent)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand

from knowledge.seed import CATALOGUE_PATH, load_catalogue, seed_knowledge


class Command(BaseCommand):
    help = "Seed the knowledge graph with the bookmark-manager catalogue (adds what is missing)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--catalogue", type=Path, default=CATALOGUE_PATH, help="A catalogue JSON file."
        )
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        report = seed_knowledge(
            load_catalogue(options["catalogue"]), progress=not options["no_progress"]
        )
        self.stdout.write(self.style.SUCCESS(f"Seeded knowledge: {report}."))
