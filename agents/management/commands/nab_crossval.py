"""``manage.py nab_crossval``: NAB leave-one-folder-out cross-validation of the detector."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from agents import nab_crossval


class Command(BaseCommand):
    help = "Score the monitor's detector on NAB, each folder held out in turn (issue 15)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--nab", required=True, type=Path, help="NAB folder (data/, labels/)")
        parser.add_argument("--scorer", required=True, type=Path, help="path to nab_score.py")
        parser.add_argument("--workers", type=int, default=None, help="Processes (CPU count).")

    def handle(self, *args: Any, nab: Path, scorer: Path, **options: Any) -> None:
        if not (nab / "data").is_dir() or not scorer.is_file():
            raise CommandError(f"need {nab}/data and the scorer {scorer}")
        bar = tqdm(unit="job", desc="nab_crossval", disable=options.get("verbosity", 1) == 0)

        def update(done: int, total: int) -> None:
            bar.total, bar.n = total, done
            bar.refresh()

        with bar:
            results = nab_crossval.cross_validate(
                nab, scorer, workers=options["workers"], progress=update
            )
        self.stdout.write(nab_crossval.format_report(results))
