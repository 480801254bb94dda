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


def test_a_fold_scores_the_mean_over_configurations_that_tie_on_training():
    files = [SimpleNamespace(rel=f"{folder}/x.csv") for folder in ("a", "b", "c")]
    configs = [{"level": 0}, {"level": 1}, {"level": 2}]
    # Holding out c: configs 0 and 1 total raw 1.0 on a+b (null -2, perfect 2, so one standard
    # false alarm is 100 * 0.11 / 4 = 2.75 points); config 2 is two false alarms behind.
    table = [
        np.array([[0.5, -1, 1], [0.5, -1, 1], [1.0, -1, 1]]),
        np.array([[0.0, -1, 1], [1.0, -1, 1], [-1.0, -1, 1]]),
        np.array([[0.39, -1, 1], [0.39, -1, 1], [1.0, -1, 1]]),
    ]
    cv = nab_crossval._folds(files, configs, table, ["a", "b", "c"], "standard", fp=0.11)
    fold = cv.folds[2]
    assert fold.tied_train == [75.0, 75.0]
    assert [c["level"] for c in fold.tied] == [0, 1]
    assert fold.score == 50.0  # mean of 100 (config 0) and 0 (config 1) on c
    assert fold.best_score == 100.0  # the old rule (best, earliest on a tie) took config 0
    assert fold.config == {"level": 0}
    # A gap just under one false alarm still ties; a heavier false-alarm weight widens it.
    table[2][:2, 0] = 0.5 - 0.0499
    cv = nab_crossval._folds(files, configs, table, ["a", "b", "c"], "standard", fp=0.11)
    assert [c["level"] for c in cv.folds[2].tied] == [0, 1, 2]
    table[2][:2, 0] = 0.5 - 0.06
    cv = nab_crossval._folds(files, configs, table, ["a", "b", "c"], "standard", fp=0.11)
    assert [c["level"] for c in cv.folds[2].tied] == [0, 1]
    cv = nab_crossval._folds(files, configs, table, ["a", "b", "c"], "standard", fp=0.22)
    assert [c["level"] for c in cv.folds[2].tied] == [0, 1, 2]


def test_the_old_rule_is_the_best_training_score_even_when_it_is_not_first():
    files = [SimpleNamespace(rel=f"{folder}/x.csv") for folder in ("a", "b", "c")]
    configs = [{"level": 0}, {"level": 1}]
    table = [  # holding out c: config 1 is 0.01 raw (a tenth of a false alarm) ahead on a+b
        np.array([[0.5, -1, 1], [0.5, -1, 1], [1.0, -1, 1]]),
        np.array([[0.01, -1, 1], [1.0, -1, 1], [-1.0, -1, 1]]),
    ]
    fold = nab_crossval._folds(files, configs, table, ["a", "b", "c"], "standard").folds[2]
    assert len(fold.tied) == 2 and fold.config == {"level": 1}
    assert fold.best_score == 0.0 and fold.score == 50.0
