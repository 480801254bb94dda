"""Self-calibrating alarm levels (issue 15, measured and not adopted): the replay is the fixed
level's when nothing is learned, a fitted tail pages at its budget, incidents do not teach the
level, the floor keeps a quiet stream silent, and the adoption rule names what failed."""

from __future__ import annotations

import math
import random

import numpy as np

from agents import nab_calibration as cal
from agents import nab_crossval
from agents.monitor.detector import ALERT_SURPRISE, REFRACTORY, StreamingDetector
from agents.nab_levels import LevelCost


class _Never:
    """A calibrator that never raises the level: only the floor decides."""

    base = math.inf

    def observe(self, surprise: float, rows: int) -> None:
        pass

    def level(self, rows: int) -> float:
        return -math.inf


def _heavy_tailed(rows: int, seed: int, shape: float = 0.3) -> np.ndarray:
    """A stationary surprise stream: mostly small, 5 % GPD excesses over 2 decades."""
    rng = np.random.default_rng(seed)
    s = rng.uniform(0.0, 2.0, rows)
    tail = rng.random(rows) < 0.05
    u = rng.random(int(tail.sum()))
    s[tail] = 2.0 + (u**-shape - 1.0) / shape  # GPD(shape, scale 1) by inversion
    return s


def test_a_level_that_never_rises_replays_the_fixed_level():
    r = random.Random(11)
    values = [10 + r.gauss(0, 1) for _ in range(3000)]
    for at in (900, 940, 1500, 2200):
        values[at] += 15
    detector = StreamingDetector()
    surprise = np.array([detector.surprise(v, 300.0 * i) for i, v in enumerate(values)])
    fixed = nab_crossval.alarms(surprise, ALERT_SURPRISE, REFRACTORY)
    replay = cal.calibrated_alarms(surprise, _Never(), REFRACTORY, floor=ALERT_SURPRISE)
    assert fixed.sum() >= 3
    assert (replay == fixed).all()


def test_a_fitted_tail_pages_a_heavy_tailed_series_near_its_budget():
    rows, q = 60000, 1e-3
    s = _heavy_tailed(rows, seed=5)
    paged = cal.calibrated_alarms(s, cal.TailFit(q), refractory=1).sum()
    fixed = nab_crossval.alarms(s, cal.FLOOR, 1).sum()
    # The budget is q per row; the floor alone (a fixed 5-decade level) pages ~6x more.
    assert 0.5 * q * rows < paged < 2.0 * q * rows
    assert fixed > 4 * paged


def test_an_incident_does_not_teach_the_level_that_catches_the_next():
    s = np.zeros(6000)
    s[1000::7] = np.random.default_rng(4).uniform(2.0, 4.0, len(s[1000::7]))  # below the floor
    for start in (2000, 3000, 4000):
        s[start : start + 20] = 80.0  # an incident shorter than the refractory period
    for calibrator in (cal.ExceedanceQuantile(2.0), cal.TailFit(1e-3), cal.RecentRecord(3000)):
        paged = np.flatnonzero(cal.calibrated_alarms(s, calibrator, REFRACTORY))
        assert paged.tolist() == [2000, 3000, 4000], type(calibrator).__name__


def test_the_floor_keeps_a_quiet_series_silent():
    s = np.random.default_rng(2).uniform(0.0, 4.9, 20000)  # never reaches the floor
    for name, (make, _, grid) in cal.CANDIDATES.items():
        assert not cal.calibrated_alarms(s, make(grid[0]), REFRACTORY).any(), name
    s[15000] = 60.0  # a spike far above everything the series has shown pages at once
    for name, (make, _, grid) in cal.CANDIDATES.items():
        assert np.flatnonzero(cal.calibrated_alarms(s, make(grid[-1]), REFRACTORY)).tolist() == [
            15000
        ], name


def _table(scores: dict[float, float]) -> list[LevelCost]:
    return [LevelCost(v, {"standard": s}, 0, 0, 0, 1.0) for v, s in scores.items()]


def test_the_adoption_rule_names_every_failed_condition():
    today = {
        "nested standard": 73.0,
        "constant-only": 74.1,
        "nested low-FP": 62.4,
        "nested low-FN": 73.4,
        "corpus standard": 42.8,
        "corpus per day": 0.133,
    }
    # Today's own public curve is not flat enough: 8 -> 7 loses 2.7 points, 8 -> 9 5.5.
    public = _table({7.0: 69.5, 8.0: 72.2, 9.0: 66.7})
    assert cal.verdict(today, public, 8.0, quiet=0) == [
        "not flat: 7 loses 2.7 against 8",
        "not flat: 9 loses 5.5 against 8",
    ]
    flat = _table({7.0: 71.0, 8.0: 72.2, 9.0: 70.0})
    assert cal.verdict(today, flat, 8.0, quiet=0) == []
    worse = {**today, "nested low-FP": 61.3, "corpus per day": 0.21}
    failed = cal.verdict(worse, flat, 8.0, quiet=2)
    assert failed == [
        "nested low-FP 61.3 < 61.4",
        "corpus false pages per series-day 0.210",
        "artificialNoAnomaly 2 false alarms on one file",
    ]
