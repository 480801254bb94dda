"""``manage.py loghub_predict --data DIR --out DIR``: mine a Loghub-format folder into CSVs.

The same code that groups production log lines, run over any folder laid out as
``<System>/<System>_2k.log`` so it can be scored by ``loghub_ga.py`` on other systems' logs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from knowledge.loghub import find_systems, predict_system


class Command(BaseCommand):
    help = "Mine every <S>/<S>_2k.log under --data into <S>.csv (LineId,ClusterId,EventTemplate)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--data", required=True, type=Path, help="Loghub-format folder")
        parser.add_argument("--out", required=True, type=Path, help="where to write <S>.csv")

    def handle(self, *args: Any, data: Path, out: Path, **options: Any) -> None:
        if not data.is_dir():
            raise CommandError(f"--data {data} is not a folder")
        systems = find_systems(data)
        if not systems:
            raise CommandError(f"no <System>/<System>_2k.log files under {data}")
        out.mkdir(parents=True, exist_ok=True)
        total = 0
        with tqdm(systems, unit="system", disable=options.get("verbosity", 1) == 0) as bar:
            for system, log_path in bar:
                bar.set_postfix_str(system)
                total += predict_system(log_path, out / f"{system}.csv")
        self.stdout.write(f"{len(systems)} systems, {total} lines written to {out}")
