"""``manage.py nab_crossval``: NAB leave-one-folder-out cross-validation of a detector.

``--detector streaming`` (the live monitor's, the default) chooses its structural constants
and alarm level inside each fold (:func:`agents.nab_crossval.cross_validate`); detectors
with published constants (``cad``) have only their threshold chosen per fold
(:func:`agents.nab_threshold.threshold_cross_validate`), on scores ``nab_predict`` writes.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from agents import nab_crossval, nab_threshold
from agents.management.commands.nab_predict import predict
from agents.monitor import cad
from agents.monitor import nab as nab_module

#: Detectors scored by threshold-only cross-validation, with their own alarm level.
THRESHOLD_ONLY = {"cad": cad.BASE_THRESHOLD, "cad-lookahead": cad.BASE_THRESHOLD}


class Command(BaseCommand):
    help = "Score a detector on NAB, each folder held out in turn (issue 15)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--nab", required=True, type=Path, help="NAB folder (data/, labels/)")
        parser.add_argument("--scorer", required=True, type=Path, help="path to nab_score.py")
        parser.add_argument("--workers", type=int, default=None, help="Processes (CPU count).")
        parser.add_argument(
            "--detector", choices=sorted(nab_module.DETECTORS), default=nab_module.DEFAULT_DETECTOR
        )

    def handle(self, *args: Any, nab: Path, scorer: Path, **options: Any) -> None:
        if not (nab / "data").is_dir() or not scorer.is_file():
            raise CommandError(f"need {nab}/data and the scorer {scorer}")
        quiet = options.get("verbosity", 1) == 0
        detector = options["detector"]
        if detector in THRESHOLD_ONLY:
            with tempfile.TemporaryDirectory(prefix="nab-cv-") as tmp:
                predict(nab / "data", tmp, workers=options["workers"], progress=not quiet,
                        detector=detector)  # fmt: skip
                results = nab_threshold.threshold_cross_validate(
                    nab, scorer, Path(tmp), THRESHOLD_ONLY[detector]
                )
            self.stdout.write(f"detector: {detector}")
            title = "threshold-only (published constants) "
            self.stdout.write(nab_crossval.format_report(results, title))
            return
        bar = tqdm(unit="job", desc="nab_crossval", disable=quiet)

        def update(done: int, total: int) -> None:
            bar.total, bar.n = total, done
            bar.refresh()

        with bar:
            results = nab_crossval.cross_validate(
                nab, scorer, workers=options["workers"], progress=update
            )
        self.stdout.write(nab_crossval.format_report(results))
