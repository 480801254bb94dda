"""Transfer of the monitor's detector to a corpus it was not shaped on (issue 15).

Three figures per NAB profile on the target corpus (e.g. the seeded server-metric corpus of
``simulator.nab_corpus``), each answering a different question:

* **alarm level** - rows at or above the detector's own ``ALERT_SCORE`` are alarms: what the
  live monitor would have paged.
* **public threshold** - the best single threshold on the public NAB folders, applied
  unchanged: does a threshold chosen on one corpus carry over?
* **own best threshold** - the best threshold chosen on the target itself: the ceiling, i.e.
  how well the detector *ranks* rows there. A low ceiling is a ranking failure, which no
  threshold choice can repair.

Every file gets a fresh detector fed strictly in order (as :mod:`.monitor.nab` does), and the
shared scorer (``nab_score.py``) does all the scoring.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .monitor.detector import ALERT_SCORE, StreamingDetector
from .monitor.nab import _parse_timestamp, _value
from .nab_crossval import PROFILES, load_scorer
from .nab_threshold import _threshold_totals

DetectorFactory = Callable[[], Any]


def update_scores(path: Path, factory: DetectorFactory = StreamingDetector) -> np.ndarray:
    """The detector's ``update`` score of every row of one NAB-format file."""
    detector = factory()
    with Path(path).open(newline="") as handle:
        rows = [(r["timestamp"], _value(r["value"])) for r in csv.DictReader(handle)]
    return np.array([detector.update(v, _parse_timestamp(t)) for t, v in rows])


def _job(job: tuple[str, DetectorFactory]) -> np.ndarray:
    return update_scores(Path(job[0]), job[1])


def corpus_scores(
    nab_dir: Path, scorer: Any, factory: DetectorFactory = StreamingDetector, workers: int = 0
) -> tuple[list[Any], list[np.ndarray]]:
    """(scorer's file records, scorable-row scores per file) for one corpus."""
    files = scorer.load_corpus(str(nab_dir))
    jobs = [(str(Path(nab_dir) / "data" / f.rel), factory) for f in files]
    with ProcessPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        full = list(pool.map(_job, jobs, chunksize=1))
    return files, [s[f.keep] for s, f in zip(full, files, strict=True)]


@dataclass
class Transfer:
    """One profile's figures: public fit and the target at three thresholds."""

    profile: str
    public_best: float
    public_threshold: float
    at_alarm_level: float
    at_public_threshold: float
    own_best: float
    own_threshold: float


def transfer(
    public_dir: Path,
    target_dir: Path,
    scorer_path: Path,
    factory: DetectorFactory = StreamingDetector,
    alarm_score: float = ALERT_SCORE,
    profiles: tuple[str, ...] = PROFILES,
) -> list[Transfer]:
    """Score the detector on ``target_dir`` at its alarm level, the public and its own best."""
    scorer = load_scorer(scorer_path)
    pub_files, pub_scores = corpus_scores(public_dir, scorer, factory)
    tgt_files, tgt_scores = corpus_scores(target_dir, scorer, factory)
    chosen = {p: scorer.PROFILES[p] for p in profiles}
    public = scorer.evaluate(pub_files, pub_scores, None, chosen)
    own = scorer.evaluate(tgt_files, tgt_scores, None, chosen)
    at_level = scorer.evaluate(tgt_files, tgt_scores, dict.fromkeys(profiles, alarm_score), chosen)
    at_public = scorer.evaluate(
        tgt_files, tgt_scores, {p: public[p]["threshold"] for p in profiles}, chosen
    )
    return [
        Transfer(
            p,
            public[p]["score"],
            public[p]["threshold"],
            at_level[p]["score"],
            at_public[p]["score"],
            own[p]["score"],
            own[p]["threshold"],
        )
        for p in profiles
    ]


def threshold_lofo(nab_dir: Path, scorer_path: Path, profile: str = "standard") -> list[tuple]:
    """Leave-one-folder-out with only the score threshold chosen on the other folders.

    Returns ``(folder, score or None, threshold)`` per fold; a folder with no window has no
    normalised score of its own (``None``).
    """
    scorer = load_scorer(scorer_path)
    files, scores = corpus_scores(nab_dir, scorer)
    prof = {profile: scorer.PROFILES[profile]}
    out = []
    for held_out in sorted({f.rel.split("/")[0] for f in files}):
        test = [f.rel.startswith(held_out + "/") for f in files]
        pick = [(f, s) for f, s, t in zip(files, scores, test, strict=True) if not t]
        thr = scorer.evaluate([f for f, _ in pick], [s for _, s in pick], None, prof)
        thr = thr[profile]["threshold"]
        held = [(f, s) for f, s, t in zip(files, scores, test, strict=True) if t]
        raw, null, perfect = _threshold_totals(
            scorer, [f for f, _ in held], [s for _, s in held], prof[profile], thr
        )
        score = None if perfect == null else 100.0 * (raw - null) / (perfect - null)
        out.append((held_out, score, thr))
    return out


def format_threshold_lofo(folds: list[tuple]) -> str:
    shown = [f"{name} {'-' if s is None else f'{s:.1f}'} (thr {t:.4f})" for name, s, t in folds]
    scored = [s for _, s, _ in folds if s is not None]
    return (
        "NAB threshold-only leave-one-folder-out (shipped detector, standard): "
        + ", ".join(shown)
        + f"; mean {sum(scored) / len(scored):.1f}"
    )


def format_transfer(rows: list[Transfer], target: str) -> str:
    """The table ``make bench`` prints beside the leave-one-folder-out figures."""
    lines = [
        f"NAB transfer to {target} (detector and thresholds from the public folders):",
        f"  {'profile':<20} {'alarm level':>11} {'public thr':>10} {'own best':>9}"
        f"  {'(public in-sample, thr)':>24} {'own thr':>8}",
    ]
    for r in rows:
        lines.append(
            f"  {r.profile:<20} {r.at_alarm_level:>11.1f} {r.at_public_threshold:>10.1f}"
            f" {r.own_best:>9.1f}  {r.public_best:>15.1f} {r.public_threshold:>8.4f}"
            f" {r.own_threshold:>8.4f}"
        )
    return "\n".join(lines)
