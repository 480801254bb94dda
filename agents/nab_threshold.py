"""Leave-one-folder-out of a detector whose only free constant is its alarm threshold.

For detectors scored from ``nab_predict`` output (CAD OSE, whose other constants are the
published ones): each fold picks the threshold on the other folders with the scorer's own
exhaustive sweep. The structural, nested cross-validation of the monitor's own detector is
:mod:`.nab_crossval`, whose fold records and report this shares.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from .nab_crossval import PROFILES, CrossValidation, FoldResult, _file_scores, load_scorer


def threshold_cross_validate(
    nab_dir: Path,
    scorer_path: Path,
    pred_dir: Path,
    default_threshold: float,
    profiles: Sequence[str] = PROFILES,
) -> dict[str, CrossValidation]:
    """Leave-one-folder-out scores of a detector whose only free constant is its threshold.

    For detectors with no structural knobs to choose (CAD OSE's constants are the published
    ones), ``pred_dir`` holds their scores (``nab_predict`` output) and each fold picks the
    alarm threshold on the other folders with the scorer's own exhaustive sweep.
    ``default_threshold`` is the detector's own alarm level, reported in-sample beside them.
    """
    scorer = load_scorer(scorer_path)
    files = scorer.load_corpus(str(nab_dir))
    arrays = [scorer.load_scores(str(pred_dir), f, check_timestamps=False) for f in files]
    folders = sorted({f.rel.split("/")[0] for f in files})
    results = {}
    for p in profiles:
        prof = {p: scorer.PROFILES[p]}
        cv = CrossValidation(p)
        for held_out in folders:
            train = [i for i, f in enumerate(files) if not f.rel.startswith(held_out + "/")]
            fit = scorer.evaluate([files[i] for i in train], [arrays[i] for i in train], None, prof)
            thr = fit[p]["threshold"]
            test = [i for i in range(len(files)) if i not in train]
            totals = _threshold_totals(scorer, [files[i] for i in test], [arrays[i] for i in test],
                                       prof[p], thr)  # fmt: skip
            cv.folds.append(FoldResult(held_out, {"threshold": thr}, fit[p]["score"], *totals))
        whole = scorer.evaluate(files, arrays, None, prof)[p]
        cv.in_sample, cv.in_sample_config = whole["score"], {"threshold": whole["threshold"]}
        cv.defaults = scorer.evaluate(files, arrays, {p: default_threshold}, prof)[p]["score"]
        results[p] = cv
    return results


def _threshold_totals(
    scorer: ModuleType, files: list[Any], arrays: list[np.ndarray], prof: dict, threshold: float
) -> tuple[float, float, float]:
    """(raw, null, perfect) summed over files, each row alarming at ``threshold``."""
    detections = []
    for f, scores in zip(files, arrays, strict=True):
        full = np.zeros(f.n, dtype=bool)
        full[f.keep] = scores >= threshold
        detections.append(full)
    raw, null, perfect = _file_scores(scorer, files, detections, prof).sum(axis=0)
    return float(raw), float(null), float(perfect)
