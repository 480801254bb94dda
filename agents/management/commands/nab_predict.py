"""Score a NAB-format data folder with the monitor's own detector (``make bench``, issue 5).

Every ``*.csv`` (``timestamp,value``) under ``--data`` gets a fresh detector (``--detector``,
one of :data:`agents.monitor.nab.DETECTORS`; the live monitor's by default), fed strictly in
order as the monitor feeds a live series, and a ``timestamp,anomaly_score`` CSV at the same
relative path under ``--out``. The scoring itself is :func:`agents.monitor.nab.score_file`;
this command adds the progress bar.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from agents.monitor import nab


def predict(
    data_dir: Path | str,
    out_dir: Path | str,
    *,
    workers: int | None = None,
    progress: bool = True,
    detector: str = nab.DEFAULT_DETECTOR,
) -> int:
    """Score every data file under ``data_dir`` into ``out_dir``; returns the files written.

    Files are independent, so they are spread over processes, largest first so one long file
    does not finish last on its own.
    """
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"no such data folder: {data_dir}")
    sources = sorted(data_dir.rglob("*.csv"), key=lambda p: p.stat().st_size, reverse=True)
    pairs = [(src, out_dir / src.relative_to(data_dir)) for src in sources]
    workers = workers or os.cpu_count() or 1
    bar = tqdm(total=len(pairs), unit="file", disable=not progress, desc="nab_predict")
    with bar:
        if workers <= 1 or len(pairs) < nab.MIN_FILES_FOR_POOL:
            for src, dst in pairs:
                nab.score_file(src, dst, detector)
                bar.update()
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                for future in as_completed(
                    pool.submit(nab.score_file, *p, detector) for p in pairs
                ):
                    future.result()
                    bar.update()
    return len(pairs)


class Command(BaseCommand):
    help = "Write NAB anomaly scores (timestamp,anomaly_score) for every CSV of a data folder."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--data", required=True, help="A NAB-format data folder.")
        parser.add_argument("--out", required=True, help="Where the score CSVs go.")
        parser.add_argument("--workers", type=int, default=None, help="Processes (CPU count).")
        parser.add_argument(
            "--detector",
            choices=sorted(nab.DETECTORS),
            default=nab.DEFAULT_DETECTOR,
            help="Which detector (cad-lookahead is not online: checks CAD against NAB only).",
        )
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            count = predict(
                options["data"],
                options["out"],
                workers=options["workers"],
                progress=not options["no_progress"],
                detector=options["detector"],
            )
        except FileNotFoundError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"scored {count} files into {options['out']}")
