"""Run :class:`agents.monitor.detector.StreamingDetector` over a NAB-format data folder.

NAB (Numenta Anomaly Benchmark) data files are CSVs with columns ``timestamp,value``; the
scorer expects one CSV per data file, at the same relative path, with columns
``timestamp,anomaly_score``.  Each file gets a fresh detector fed strictly in order, exactly as
the monitor agent sees a live series, so the benchmark score reflects production behaviour.
Files are independent, so they are spread over processes.
"""

from __future__ import annotations

import csv
import os
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from pathlib import Path

from .detector import StreamingDetector

#: Decimal places written for scores; enough to keep every distinct score distinct.
SCORE_DECIMALS = 8
#: Below this many files process start-up costs more than it saves.
MIN_FILES_FOR_POOL = 4


def _parse_timestamp(text: str) -> datetime | float | None:
    """ISO-8601 timestamps (NAB's format) or epoch seconds; ``None`` if unparseable."""
    text = text.strip()
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return None


def score_file(src: Path, dst: Path) -> int:
    """Score one NAB CSV into ``dst``; returns the number of rows written."""
    detector = StreamingDetector()
    dst.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    with src.open(newline="") as fin, dst.open("w", newline="") as fout:
        writer = csv.writer(fout)
        writer.writerow(["timestamp", "anomaly_score"])
        for row in csv.DictReader(fin):
            raw_ts = row["timestamp"]
            try:
                value = float(row["value"])
            except (TypeError, ValueError):
                value = float("nan")  # the detector ignores non-finite values (score 0)
            score = detector.update(value, _parse_timestamp(raw_ts))
            writer.writerow([raw_ts, f"{score:.{SCORE_DECIMALS}f}"])
            rows += 1
    return rows


def _score_pair(pair: tuple[Path, Path]) -> int:
    """Picklable wrapper for the process pool."""
    return score_file(*pair)


def predict_folder(data_dir: Path, out_dir: Path, workers: int | None = None) -> int:
    """Score every ``*.csv`` under ``data_dir`` (recursively) into ``out_dir``.

    Relative paths are preserved, e.g. ``data/realTweets/x.csv`` ->
    ``out/realTweets/x.csv``.  Returns the number of files written.  ``workers`` defaults to
    the CPU count; files are processed in parallel because each is independent.
    """
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    pairs = [(src, out_dir / src.relative_to(data_dir)) for src in sorted(data_dir.rglob("*.csv"))]
    workers = workers or os.cpu_count() or 1
    if workers <= 1 or len(pairs) < MIN_FILES_FOR_POOL:
        for pair in pairs:
            _score_pair(pair)
    else:
        # Largest files first so one long file does not finish last on its own.
        pairs.sort(key=lambda p: p[0].stat().st_size, reverse=True)
        with ProcessPoolExecutor(max_workers=workers) as pool:
            list(pool.map(_score_pair, pairs))
    return len(pairs)
