"""Write the knowledge graph to a JSON file (natural keys, importable anywhere)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand

from knowledge.backup import export_knowledge


class Command(BaseCommand):
    help = "Export problems, solutions, patterns (with versions), edges and occurrences to JSON."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--out", required=True, help="Output file, or '-' for stdout.")
        parser.add_argument(
            "--no-occurrences", action="store_true", help="Leave out the occurrence buckets."
        )
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        to_stdout = options["out"] == "-"
        data = export_knowledge(
            occurrences=not options["no_occurrences"],
            progress=not (options["no_progress"] or to_stdout),
        )
        text = json.dumps(data, indent=1, ensure_ascii=False) + "\n"
        if to_stdout:
            sys.stdout.write(text)
            return
        Path(options["out"]).write_text(text, encoding="utf-8")
        counts = ", ".join(
            f"{len(data[k])} {k}"
            for k in ("problems", "solutions", "patterns", "edges", "occurrences")
        )
        self.stdout.write(self.style.SUCCESS(f"Exported {counts} to {options['out']}."))
