"""Run one of the monitor's detectors over a NAB-format data folder.

NAB (Numenta Anomaly Benchmark) data files are CSVs with columns ``timestamp,value``; the
scorer expects one CSV per data file, at the same relative path, with columns
``timestamp,anomaly_score``.  Each file gets a fresh detector fed strictly in order, exactly as
the monitor agent sees a live series, so the benchmark score reflects production behaviour.
Files are independent, so they are spread over processes.

Detectors (``DETECTORS``): ``streaming`` is :class:`~.detector.StreamingDetector`, the live
monitor's; ``cad`` is CAD OSE (:mod:`.cad`) with its published constants and an online value
range; ``cad-lookahead`` is CAD OSE exactly as NAB runs it, handed the whole file's minimum
and maximum - not online, kept only to check the implementation against the published score.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from .cad import ContextualAnomalyDetector, rest_period_for
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


def _cad(values: list[float]) -> ContextualAnomalyDetector:
    # The rest period follows NAB's probationary period, which the benchmark (and its scorer)
    # derives from the file's length; a live series uses the cap.
    return ContextualAnomalyDetector(rest_period=rest_period_for(len(values)))


def _cad_lookahead(values: list[float]) -> ContextualAnomalyDetector:
    finite = [v for v in values if math.isfinite(v)]
    return ContextualAnomalyDetector(
        rest_period=rest_period_for(len(values)), min_value=min(finite), max_value=max(finite)
    )


#: Detector name -> factory given the file's values (only ``cad-lookahead`` reads them).
DETECTORS: dict[str, Callable[[list[float]], Any]] = {
    "streaming": lambda values: StreamingDetector(),
    "cad": _cad,
    "cad-lookahead": _cad_lookahead,
}
DEFAULT_DETECTOR = "streaming"


def _value(text: str | None) -> float:
    try:
        return float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return float("nan")  # the detectors ignore non-finite values (score 0)


def score_file(src: Path, dst: Path, detector: str = DEFAULT_DETECTOR) -> int:
    """Score one NAB CSV into ``dst`` with the named detector; returns the rows written."""
    with src.open(newline="") as fin:
        rows = [(row["timestamp"], _value(row["value"])) for row in csv.DictReader(fin)]
    model = DETECTORS[detector]([value for _, value in rows])
    dst.parent.mkdir(parents=True, exist_ok=True)
    with dst.open("w", newline="") as fout:
        writer = csv.writer(fout)
        writer.writerow(["timestamp", "anomaly_score"])
        for raw_ts, value in rows:
            score = model.update(value, _parse_timestamp(raw_ts))
            writer.writerow([raw_ts, f"{score:.{SCORE_DECIMALS}f}"])
    return len(rows)


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
