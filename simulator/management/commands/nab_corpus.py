"""Write the seeded server-metric corpus in NAB's layout (issue 15's second test set)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand

from simulator.nab_corpus import DEFAULT_SEED, generate


class Command(BaseCommand):
    help = (
        "Generate ~30 server-metric-like series with labelled faults under OUT (data/, "
        "labels/combined_windows.json); score detectors on it with nab_score.py --nab OUT."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("out", type=Path)
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED)

    def handle(self, *args: Any, out: Path, seed: int, **options: Any) -> None:
        manifest = generate(out, seed=seed)
        faults = sum(len(v) for v in manifest.values())
        self.stdout.write(f"{len(manifest)} files, {faults} labelled faults under {out}")
