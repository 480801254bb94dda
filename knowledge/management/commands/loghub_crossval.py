"""``manage.py loghub_crossval``: Loghub leave-one-system-out cross-validation of the miner."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from knowledge import loghub_crossval


class Command(BaseCommand):
    help = "Score the template miner on Loghub, each system held out in turn (issue 15)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loghub", required=True, type=Path, help="folder with loghub_2k/")
        parser.add_argument("--scorer", required=True, type=Path, help="path to loghub_ga.py")
        parser.add_argument("--workers", type=int, default=None, help="Processes (CPU count).")

    def handle(self, *args: Any, loghub: Path, scorer: Path, **options: Any) -> None:
        if not loghub.is_dir() or not scorer.is_file():
            raise CommandError(f"need the Loghub folder {loghub} and the scorer {scorer}")
        bar = tqdm(unit="job", desc="loghub_crossval", disable=options.get("verbosity", 1) == 0)

        def update(done: int, total: int) -> None:
            bar.total, bar.n = total, done
            bar.refresh()

        with bar:
            results = loghub_crossval.cross_validate(
                loghub, scorer, workers=options["workers"], progress=update
            )
        self.stdout.write(loghub_crossval.format_report(results))
