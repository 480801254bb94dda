"""Leave-one-folder-out cross-validation of the monitor's detector on NAB (issue 15).

Why: a detector whose constants and alert threshold were chosen on the very files it is
scored on reports an in-sample figure that says little about an operator's series. Here each
of the NAB data folders is held out in turn; the detector configuration (from a small,
fixed grid ``CONFIGS``) and the alert threshold are chosen on the *other* folders by NAB's
own best-threshold sweep, then the held-out folder is scored at that fixed threshold.

Scoring uses the shared, independent scorer (``nab_score.py``) as a library: its corpus
loader, its threshold sweep and its ``score_at``. A folder without any labelled window
(``artificialNoAnomaly``) has no normalised score of its own (perfect == null), so its raw
false-alarm cost is reported and it enters the *pooled* out-of-fold score, which sums raw,
null and perfect over all held-out folds exactly as NAB sums over files.
"""

from __future__ import annotations

import csv
import importlib.util
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from .anomaly import ALERT_SURPRISE, SCORE_HALF, StreamingDetector
from .nab import _parse_timestamp

PROFILES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")

#: Detector configurations the folds choose from. Kept small on purpose: every extra option
#: is a degree of freedom fitted on four folders. The tunable is the detector's own alert
#: level (``alert_surprise``), which also sets when its refractory period starts; the
#: defaults come first.
CONFIGS: list[dict[str, Any]] = [{}] + [
    {"alert_surprise": level} for level in (6.0, 7.0, 9.0, 10.0)
]
#: "alert": each config is scored at its own alarm score (what the monitor alarms at), so
#: the threshold and the refractory trigger agree; "sweep": NAB's best threshold on the
#: training folders, whatever the detector's own alarm level (reported for comparison).
MODES = ("alert", "sweep")


def alert_threshold(config: dict[str, Any]) -> float:
    """The score at which a detector built with ``config`` raises an alert."""
    level = float(config.get("alert_surprise", ALERT_SURPRISE))
    return level / (level + SCORE_HALF) - 1e-12  # scores equal to it, up to rounding, alert


def load_scorer(path: Path) -> ModuleType:
    """Import ``nab_score.py`` (not a package) so its functions are used, not re-implemented."""
    spec = importlib.util.spec_from_file_location("nab_score", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the NAB scorer from {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def score_series(path: Path, params: dict[str, Any]) -> np.ndarray:
    """Online scores of one NAB data file by a fresh detector built with ``params``."""
    detector = StreamingDetector(**params)
    out = []
    with Path(path).open(newline="") as handle:
        for row in csv.DictReader(handle):
            try:
                value = float(row["value"])
            except (TypeError, ValueError):
                value = float("nan")
            when: datetime | float | None = _parse_timestamp(row["timestamp"])
            out.append(detector.update(value, when))
    return np.asarray(out)


def _score_job(job: tuple[str, dict[str, Any]]) -> np.ndarray:
    return score_series(Path(job[0]), job[1])


@dataclass
class FoldResult:
    """One held-out folder under one profile."""

    folder: str
    config: dict[str, Any]
    threshold: float
    train_score: float
    raw: float
    null: float
    perfect: float
    fp_rows: int

    @property
    def score(self) -> float | None:
        """Normalised NAB score of the folder alone; ``None`` when it has no window."""
        if self.perfect == self.null:
            return None
        return 100.0 * (self.raw - self.null) / (self.perfect - self.null)


@dataclass
class CrossValidation:
    """All folds of one profile, the pooled out-of-fold score and the in-sample figure."""

    profile: str
    folds: list[FoldResult] = field(default_factory=list)
    in_sample: float = 0.0
    in_sample_config: dict[str, Any] = field(default_factory=dict)

    @property
    def mean(self) -> float:
        """Mean normalised score over the folds that have labelled windows."""
        scores = [f.score for f in self.folds if f.score is not None]
        return sum(scores) / len(scores)

    @property
    def pooled(self) -> float:
        """NAB's normalisation over all held-out rows, each at its own fold's threshold."""
        raw = sum(f.raw for f in self.folds)
        null = sum(f.null for f in self.folds)
        perfect = sum(f.perfect for f in self.folds)
        return 100.0 * (raw - null) / (perfect - null)


def _fixed(
    scorer: ModuleType, files: list[Any], arrays: list[np.ndarray], profile: str, thr: float
):
    """(raw, null, perfect, false-alarm rows) of ``files`` at threshold ``thr``."""
    prof = scorer.PROFILES[profile]
    offsets = np.cumsum([0] + [f.n_windows for f in files])
    n_win = int(offsets[-1])
    win = np.concatenate(
        [
            np.where(f.win >= 0, f.win - f.first_window_id + o, -1)
            for f, o in zip(files, offsets[:-1], strict=True)
        ]
    )
    sweep = np.concatenate([f.sweep(prof) for f in files])
    raw, _, fp_rows = scorer.score_at(np.concatenate(arrays), sweep, win, n_win, prof["fn"], thr)
    null = -prof["fn"] * len(np.unique(win[win >= 0]))
    return raw, null, prof["tp"] * n_win, fp_rows


def cross_validate(
    nab_dir: Path,
    scorer_path: Path,
    configs: Sequence[dict[str, Any]] = CONFIGS,
    profiles: Sequence[str] = PROFILES,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, CrossValidation]:
    """Leave-one-folder-out NAB scores per profile (see the module docstring)."""
    scorer = load_scorer(scorer_path)
    files = scorer.load_corpus(str(nab_dir))
    jobs = [(str(Path(nab_dir) / "data" / f.rel), dict(c)) for c in configs for f in files]
    workers = workers or os.cpu_count() or 1
    raw_scores: list[np.ndarray] = []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for done, scores in enumerate(pool.map(_score_job, jobs, chunksize=1), start=1):
            raw_scores.append(scores)
            if progress is not None:
                progress(done, len(jobs))
    # arrays[c][i]: scores of file i under config c, probation rows dropped as the scorer does
    arrays = [
        [raw_scores[c * len(files) + i][f.keep] for i, f in enumerate(files)]
        for c in range(len(configs))
    ]
    folders = sorted({f.rel.split("/")[0] for f in files})
    results: dict[str, CrossValidation] = {}
    for mode in MODES:
        for profile in profiles:
            results[f"{profile} ({mode})"] = _folds(
                scorer, files, arrays, configs, folders, profile, mode
            )
    return results


def _folds(
    scorer: ModuleType,
    files: list[Any],
    arrays: list[list[np.ndarray]],
    configs: Sequence[dict[str, Any]],
    folders: list[str],
    profile: str,
    mode: str,
) -> CrossValidation:
    """One profile's folds: choose config (and threshold) on the others, score the one out."""
    only = {profile: scorer.PROFILES[profile]}

    def fit(indices: list[int], c: int) -> tuple[float, float]:
        """(normalised score, threshold) of config ``c`` on the files ``indices``."""
        subset, scores = [files[i] for i in indices], [arrays[c][i] for i in indices]
        if mode == "alert":
            thr = alert_threshold(configs[c])
            raw, null, perfect, _ = _fixed(scorer, subset, scores, profile, thr)
            return 100.0 * (raw - null) / (perfect - null), thr
        fitted = scorer.evaluate(subset, scores, profiles=only)[profile]
        return fitted["score"], fitted["threshold"]

    cv = CrossValidation(f"{profile} ({mode})")
    for held_out in folders:
        train = [i for i, f in enumerate(files) if not f.rel.startswith(held_out + "/")]
        test = [i for i, f in enumerate(files) if f.rel.startswith(held_out + "/")]
        fits = [fit(train, c) for c in range(len(configs))]
        c = max(range(len(configs)), key=lambda k: (fits[k][0], -k))
        train_score, thr = fits[c]
        raw, null, perfect, fp_rows = _fixed(
            scorer, [files[i] for i in test], [arrays[c][i] for i in test], profile, thr
        )
        cv.folds.append(
            FoldResult(held_out, dict(configs[c]), thr, train_score, raw, null, perfect, fp_rows)
        )
    everything = list(range(len(files)))
    fits = [fit(everything, c) for c in range(len(configs))]
    c = max(range(len(configs)), key=lambda k: (fits[k][0], -k))
    cv.in_sample, cv.in_sample_config = fits[c][0], dict(configs[c])
    return cv


def format_report(results: dict[str, CrossValidation]) -> str:
    """The per-fold table and means, as ``make bench`` and ``manage.py nab_crossval`` print."""
    lines = []
    for profile, cv in results.items():
        lines.append(f"NAB leave-one-folder-out, profile {profile}:")  # profile (mode)
        lines.append(
            f"  {'held-out folder':<24} {'score':>7} {'train':>7} {'thresh':>7}"
            f" {'FP rows':>7}  config"
        )
        for f in cv.folds:
            shown = "n/a" if f.score is None else f"{f.score:.1f}"
            if f.score is None:
                shown = f"raw {f.raw:.2f}"
            lines.append(
                f"  {f.folder:<24} {shown:>7} {f.train_score:>7.1f} {f.threshold:>7.4f}"
                f" {f.fp_rows:>7}  {f.config or 'defaults'}"
            )
        lines.append(f"  mean over folds with windows: {cv.mean:.1f}")
        lines.append(f"  pooled out-of-fold (all folders, NAB normalisation): {cv.pooled:.1f}")
        lines.append(
            f"  in-sample (best config and threshold on all folders, NOT a held-out figure):"
            f" {cv.in_sample:.1f} {cv.in_sample_config or 'defaults'}"
        )
    return "\n".join(lines)
