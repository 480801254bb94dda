"""Load the seed remediation rules (adds what is missing, keeps edited rules)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand

from remediation.seed import RULES_PATH, load_rules, seed_rules


class Command(BaseCommand):
    help = "Seed remediation rules from remediation/fixtures/rules.json (idempotent)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--rules", type=Path, default=RULES_PATH, help="A rules JSON file.")

    def handle(self, *args: Any, **options: Any) -> None:
        report = seed_rules(load_rules(options["rules"]))
        self.stdout.write(self.style.SUCCESS(f"Seeded rules: {report}."))
