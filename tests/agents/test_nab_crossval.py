"""Nested NAB cross-validation (issue 15): the alarm rule it replays is the detector's own,
and every constant of a fold is chosen without looking at the folder it scores."""

from __future__ import annotations

import random
from types import SimpleNamespace

import numpy as np

from agents import nab_crossval
from agents.monitor.detector import ALERT_SCORE, StreamingDetector


def _series() -> list[float]:
    r = random.Random(11)
    values = [10 + r.gauss(0, 1) for _ in range(3000)]
    for at in (900, 940, 1500, 2200):  # 940 falls inside 900's refractory period
        values[at] += 15
    values[2600:] = [v + 8 for v in values[2600:]]
    return values


def test_replayed_alarms_match_the_detector_update_rule():
    values = _series()
    live = StreamingDetector()
    alerts = [i for i, v in enumerate(values) if live.update(v, 300.0 * i) >= ALERT_SCORE]
    replay = StreamingDetector()
    surprise = np.array([replay.surprise(v, 300.0 * i) for i, v in enumerate(values)])
    replayed = np.flatnonzero(
        nab_crossval.alarms(surprise, live.alert_surprise, live.refractory)
    ).tolist()
    assert replayed == alerts
    assert 900 in alerts and 940 not in alerts  # the refractory period is really replayed


def test_each_fold_chooses_on_the_other_folders_only():
    files = [SimpleNamespace(rel=f"{folder}/x.csv") for folder in ("a", "b", "c")]
    configs = [{"level": 0}, {"level": 1}]
    # (raw, null, perfect) per file: config 1 wins on a and b, config 0 wins on c.
    table = [
        np.array([[0.0, -1, 1], [0.0, -1, 1], [1.0, -1, 1]]),
        np.array([[1.0, -1, 1], [1.0, -1, 1], [-1.0, -1, 1]]),
    ]
    cv = nab_crossval._folds(files, configs, table, ["a", "b", "c"], "standard")
    chosen = {f.folder: f.config["level"] for f in cv.folds}
    # Holding out c, config 1 is best on a+b and is then scored badly on c.
    assert chosen["c"] == 1
    assert cv.folds[2].score == 0.0
    assert cv.spread() == {"level": [chosen["a"], chosen["b"], 1]}
    # On all folders both configs total raw 1 (null -3, perfect 3): the tie keeps the first.
    assert cv.in_sample == 100.0 * 4 / 6
    assert cv.in_sample_config == {"level": 0}
