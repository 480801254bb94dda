"""Nested leave-one-folder-out cross-validation of the monitor's detector on NAB (issue 15).

Why nested: a detector whose window lengths, refractory period, seasonality and alarm level
were chosen looking at every shipped folder reports an in-sample figure, even when a
"cross-validation" later re-picks only its threshold. Here *every* constant in ``GRID`` and
``ALARM_GRID`` - the structural ones and the alarm level - is chosen inside each fold, on the
four training folders only, from a small grid declared before any fold is scored; the
left-out folder is then scored once, at the chosen detector's own alarm level (what the
monitor alarms at). The spread of the chosen constants across folds is part of the report: a
constant that flips between folds is fitted noise, not a property of time series.

Ties: when several configurations score within ``TIE_FALSE_ALARMS`` false alarms of the best
on the training folders, the training data cannot tell them apart, and whichever one a
tie-break picks would decide the fold by accident (or, broken toward the shipped defaults,
by the test folder itself, since the defaults were chosen on all five). The fold is scored as
the *mean* over the tied configurations: the expectation under a random tie-break. The old
rule's score (the single best training score, earliest on an exact tie) is kept beside it.

Cost: the detector runs once per structural configuration (``GRID``) and file. The alarm
level and refractory period (``ALARM_GRID``) only decide which rows alarm, so they are
applied afterwards to the detector's raw surprise (:func:`alarms`, the same rule as
:meth:`StreamingDetector.update`, pinned by a test), and a fixed-threshold NAB score is a
sum over files, so each file is scored once per combination and folds are sums.

Scoring uses the shared, independent scorer (``nab_score.py``) as a library. A folder with
no labelled window (``artificialNoAnomaly``) has no normalised score of its own, so its raw
false-alarm cost is reported and it enters the *pooled* out-of-fold score, which sums raw,
null and perfect over all held-out folds exactly as NAB sums over files.
"""

from __future__ import annotations

import csv
import importlib.util
import itertools
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from .monitor.detector import (
    ALERT_SURPRISE,
    LONG_WINDOW,
    PROBATION,
    REFRACTORY,
    SEASON_DAYS,
    SHORT_WINDOW,
    StreamingDetector,
)
from .monitor.nab import _parse_timestamp

PROFILES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")

#: Structural constants, each tried at half, at and at twice (or thrice) its default. Declared
#: before scoring; the defaults come first (the in-sample reference reads configuration 0).
GRID: dict[str, tuple[float, ...]] = {
    "short_window": (SHORT_WINDOW, 5, 20),
    "long_window": (LONG_WINDOW, 2000, 10000),
    "season_days": (SEASON_DAYS, 1, 7),
}
#: Alarm levels (decades), absolute since the default is itself chosen from them. Every fold
#: picked the old floor (5), so 4 and 3 were added: at 3 ``ALERT_SCORE`` still exceeds
#: ``REFRACTORY_DAMPING`` (at 2 a damped row could page, which :func:`alarms` does not replay),
#: and 2 (``SPATIAL_BASE``) would page every bare new record.
ALARM_LEVELS = (3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 12.0)
#: Constants applied after the detector: its alarm level (the default first) and refractory rows.
ALARM_GRID: dict[str, tuple[float, ...]] = {
    "alert_surprise": (ALERT_SURPRISE, *(v for v in ALARM_LEVELS if v != ALERT_SURPRISE)),
    "refractory": (REFRACTORY, 50, 200),
}


#: Training scores closer to the best than this many false alarms tie. One false alarm far
#: from any window costs the profile's ``fp`` weight, i.e. ``100 * fp / (perfect - null)``
#: normalised points on the training folders (0.10 for standard with realTraffic held out):
#: the smallest whole event the score counts, so a smaller gap is a detection landing a few
#: rows earlier or later, not evidence that one configuration generalises better.
TIE_FALSE_ALARMS = 1.0


def load_scorer(path: Path) -> ModuleType:
    """Import ``nab_score.py`` (not a package) so its functions are used, not re-implemented."""
    spec = importlib.util.spec_from_file_location("nab_score", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the NAB scorer from {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def surprise_series(path: Path, params: dict[str, Any]) -> np.ndarray:
    """Raw surprise (decades) of every row of one NAB file, by a fresh detector."""
    detector = StreamingDetector(**params)
    out = []
    with Path(path).open(newline="") as handle:
        for row in csv.DictReader(handle):
            try:
                value = float(row["value"])
            except (TypeError, ValueError):
                value = float("nan")
            out.append(detector.surprise(value, _parse_timestamp(row["timestamp"])))
    return np.asarray(out)


def alarms(surprise: np.ndarray, alert_surprise: float, refractory: int) -> np.ndarray:
    """Rows the detector alarms at: :meth:`StreamingDetector.update`'s rule, vectorised.

    A row alarms when it is past probation, its surprise reaches the level and at least
    ``refractory`` rows have passed since the previous alarm. (Rows with non-finite values,
    which ``update`` skips, are not modelled: NAB has none.)
    """
    out = np.zeros(len(surprise), dtype=bool)
    last = -(1 << 30)
    for i in np.flatnonzero(surprise >= alert_surprise):
        if i >= PROBATION - 1 and i - last >= refractory:
            out[i] = True
            last = i
    return out


def _surprise_job(job: tuple[str, dict[str, Any]]) -> np.ndarray:
    return surprise_series(Path(job[0]), job[1])


def _combos(grid: dict[str, tuple[float, ...]]) -> list[dict[str, Any]]:
    keys = list(grid)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*grid.values())]


@dataclass
class FoldResult:
    """One held-out folder under one profile: what was chosen and how it scored.

    ``raw`` is the mean over the ``tied`` configurations (see the module docstring);
    ``config`` and ``best_raw`` are the single best training score's (the old rule).
    """

    folder: str
    config: dict[str, Any]
    train_score: float
    raw: float
    null: float
    perfect: float
    tied: list[dict[str, Any]] = field(default_factory=list)
    tied_train: list[float] = field(default_factory=list)
    best_raw: float | None = None

    @property
    def score(self) -> float | None:
        """Normalised NAB score of the folder alone; ``None`` when it has no window."""
        return self._normalise(self.raw)

    @property
    def best_score(self) -> float | None:
        """The score of the best training configuration alone (the old rule)."""
        return self._normalise(self.raw if self.best_raw is None else self.best_raw)

    def _normalise(self, raw: float) -> float | None:
        if self.perfect == self.null:
            return None
        return 100.0 * (raw - self.null) / (self.perfect - self.null)


@dataclass
class CrossValidation:
    """All folds of one profile, the pooled out-of-fold score and in-sample references."""

    profile: str
    folds: list[FoldResult] = field(default_factory=list)
    in_sample: float = 0.0
    in_sample_config: dict[str, Any] = field(default_factory=dict)
    defaults: float = 0.0

    @property
    def mean(self) -> float:
        """Mean normalised score over the folds that have labelled windows."""
        scores = [f.score for f in self.folds if f.score is not None]
        return sum(scores) / len(scores)

    @property
    def mean_best(self) -> float:
        """The same mean, each fold at its single best training configuration (old rule)."""
        scores = [f.best_score for f in self.folds if f.best_score is not None]
        return sum(scores) / len(scores)

    @property
    def pooled(self) -> float:
        """NAB's normalisation over all held-out rows, each at its own fold's choice."""
        raw = sum(f.raw for f in self.folds)
        null = sum(f.null for f in self.folds)
        perfect = sum(f.perfect for f in self.folds)
        return 100.0 * (raw - null) / (perfect - null)

    def spread(self) -> dict[str, list[Any]]:
        """Each constant's chosen value per fold (in fold order)."""
        return {key: [f.config[key] for f in self.folds] for key in self.folds[0].config}


def _file_scores(scorer: ModuleType, files: list[Any], detections: list[np.ndarray], prof):
    """(raw, null, perfect) of every file when ``detections`` are its alarms."""
    out = np.empty((len(files), 3))
    for i, (f, det) in enumerate(zip(files, detections, strict=True)):
        win = np.where(f.win >= 0, f.win - f.first_window_id, -1)
        kept = det[f.keep].astype(float)
        raw = scorer.score_at(kept, f.sweep(prof), win, f.n_windows, prof["fn"], 0.5)[0]
        out[i] = (raw, -prof["fn"] * len(np.unique(win[win >= 0])), prof["tp"] * f.n_windows)
    return out


def _normalised(totals: np.ndarray) -> float:
    raw, null, perfect = totals
    return 100.0 * (raw - null) / (perfect - null)


def cross_validate(
    nab_dir: Path,
    scorer_path: Path,
    grid: dict[str, tuple[float, ...]] | None = None,
    alarm_grid: dict[str, tuple[float, ...]] | None = None,
    profiles: Sequence[str] = PROFILES,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, CrossValidation]:
    """Nested leave-one-folder-out NAB scores per profile (see the module docstring)."""
    scorer = load_scorer(scorer_path)
    structures = _combos(GRID if grid is None else grid)
    settings = _combos(ALARM_GRID if alarm_grid is None else alarm_grid)
    files, table = corpus_surprises(scorer, nab_dir, structures, workers, progress)
    runs = (
        ({**structure, **setting}, [alarms(x, setting["alert_surprise"], setting["refractory"])
                                    for x in own])
        for structure, own in zip(structures, table, strict=True)
        for setting in settings
    )  # fmt: skip
    return fold_scores(scorer, files, runs, profiles)


def corpus_surprises(
    scorer: ModuleType,
    nab_dir: Path,
    structures: list[dict[str, Any]],
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[Any], list[list[np.ndarray]]]:
    """(scorer records, raw surprise per structure and file): the detector run once per
    structure and file, in parallel; everything after it only decides which rows alarm."""
    files = scorer.load_corpus(str(nab_dir))
    jobs = [(str(Path(nab_dir) / "data" / f.rel), s) for s in structures for f in files]
    flat: list[np.ndarray] = []
    with ProcessPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        for done, result in enumerate(pool.map(_surprise_job, jobs, chunksize=1), start=1):
            flat.append(result)
            if progress is not None:
                progress(done, len(jobs))
    return files, [flat[k * len(files) : (k + 1) * len(files)] for k in range(len(structures))]


def fold_scores(
    scorer: ModuleType,
    files: list[Any],
    runs: Iterable[tuple[dict[str, Any], list[np.ndarray]]],
    profiles: Sequence[str] = PROFILES,
) -> dict[str, CrossValidation]:
    """Leave-one-folder-out per profile over ``runs`` (a configuration and each file's
    alarms under it): every file scored once per run, folds as sums (module docstring)."""
    configs: list[dict[str, Any]] = []
    per_profile: dict[str, list[np.ndarray]] = {p: [] for p in profiles}  # [config] -> (file, 3)
    for config, detections in runs:
        configs.append(config)
        for p in profiles:
            per_profile[p].append(_file_scores(scorer, files, detections, scorer.PROFILES[p]))
    folders = sorted({f.rel.split("/")[0] for f in files})
    return {
        p: _folds(files, configs, per_profile[p], folders, p, scorer.PROFILES[p]["fp"])
        for p in profiles
    }


def _folds(
    files: list[Any],
    configs: list[dict[str, Any]],
    table: list[np.ndarray],
    folders: list[str],
    profile: str,
    fp: float = 0.11,
) -> CrossValidation:
    """Choose configurations on four folders, score them on the fifth, for every fold.

    ``fp`` is the profile's false-alarm weight (NAB's standard 0.11 by default), which sets
    the tie tolerance.
    """
    stacked = np.stack(table)  # (config, file, 3)

    def tied(mask: np.ndarray) -> tuple[list[int], list[float]]:
        """Configurations within TIE_FALSE_ALARMS false alarms of the best, in grid order."""
        totals = stacked[:, mask].sum(axis=1)  # (config, 3)
        scores = np.array([_normalised(t) for t in totals])
        _, null, perfect = totals[0]
        tolerance = TIE_FALSE_ALARMS * 100.0 * fp / (perfect - null)
        ties = [int(c) for c in np.flatnonzero(scores >= scores.max() - tolerance - 1e-9)]
        return ties, [float(scores[c]) for c in ties]

    cv = CrossValidation(profile)
    for held_out in folders:
        test = np.array([f.rel.startswith(held_out + "/") for f in files])
        ties, train = tied(~test)
        # The old rule: the single best training score, the earliest on an exact tie.
        k = max(range(len(ties)), key=lambda i: (round(train[i], 9), -i))
        held = stacked[ties][:, test].sum(axis=1)  # (tied config, 3)
        fold = FoldResult(held_out, configs[ties[k]], train[k], *held.mean(axis=0))
        fold.tied, fold.tied_train = [configs[c] for c in ties], train
        fold.best_raw = float(held[k, 0])
        cv.folds.append(fold)
    scores = [_normalised(stacked[c].sum(axis=0)) for c in range(len(configs))]
    c = int(np.argmax(scores))  # in-sample reference only: the best of grid, first on a tie
    cv.in_sample, cv.in_sample_config = scores[c], configs[c]
    cv.defaults = _normalised(stacked[0].sum(axis=0))  # configs[0] is the shipped defaults
    return cv


def format_report(results: dict[str, CrossValidation], title: str = "nested ") -> str:
    """Per-fold table, means and the spread of chosen constants (``make bench`` prints it).

    ``title`` says what was chosen per fold: ``"nested "`` (every constant) by default.
    """
    lines = []
    for profile, cv in results.items():
        keys = list(cv.folds[0].config)
        lines.append(f"NAB {title}leave-one-folder-out, profile {profile}:")
        lines.append(
            f"  {'held-out folder':<22} {'score':>9} {'best':>6} {'train':>6} {'tied':>4}  "
            + " ".join(f"{k:>14}" for k in keys)
        )
        for f in cv.folds:
            shown = f"raw {f.raw:.2f}" if f.score is None else f"{f.score:.1f}"
            best = "-" if f.best_score is None else f"{f.best_score:.1f}"
            tied = len(f.tied) or 1  # threshold-only folds record no ties
            lines.append(
                f"  {f.folder:<22} {shown:>9} {best:>6} {f.train_score:>6.1f} {tied:>4}  "
                + " ".join(f"{f.config[k]:>14g}" for k in keys)
            )
            if len(f.tied) > 1:
                lines.append(f"      tied: {_describe_ties(f)}")
        lines.append(
            f"  mean over folds with windows: {cv.mean:.1f} (tied configurations averaged;"
            f" best training configuration alone: {cv.mean_best:.1f})"
        )
        lines.append(f"  pooled out-of-fold (all folders, NAB normalisation): {cv.pooled:.1f}")
        for key, chosen in cv.spread().items():
            verdict = "stable" if len(set(chosen)) == 1 else "FLIPS between folds"
            lines.append(f"  chosen {key}: {', '.join(f'{v:g}' for v in chosen)} ({verdict})")
        lines.append(
            f"  in-sample, NOT held-out: shipped defaults {cv.defaults:.1f}; best of grid on"
            f" all folders {cv.in_sample:.1f}"
        )
    return "\n".join(lines)


def _describe_ties(fold: FoldResult) -> str:
    """The tied configurations by the constants that differ, each with its training score."""
    keys = [k for k in fold.config if len({c[k] for c in fold.tied}) > 1]
    shown = [
        "/".join(f"{c[k]:g}" for k in keys) + f" ({train:.2f})"
        for c, train in zip(fold.tied, fold.tied_train, strict=True)
    ]
    return "/".join(keys) + " " + ", ".join(shown)
