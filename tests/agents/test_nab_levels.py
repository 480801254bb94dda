"""What each alarm level costs an operator (issue 15): the real detector's alarms on a small
synthetic series, counted as windows hit, false alarms and false alarms per series-day, with
NAB's probation left out; and the nested grid now reaching below the shipped level."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import numpy as np

from agents import nab_crossval, nab_levels
from agents.monitor.detector import ALERT_SURPRISE, REFRACTORY, StreamingDetector

START = datetime(2025, 3, 3, tzinfo=UTC)
ROWS = 2000
PROBATION = 300  # NAB's: 15 % of the rows


def _record(rel: str, window: tuple[int, int] | None) -> SimpleNamespace:
    """A scorer-like record: window ids and the scored-row mask, 5-minute rows."""
    win = np.full(ROWS, -1)
    if window is not None:
        win[window[0] : window[1] + 1] = 0
    keep = np.arange(ROWS) >= PROBATION
    stamps = [START + timedelta(minutes=5 * i) for i in range(ROWS)]
    return SimpleNamespace(
        rel=rel, keep=keep, win=win[keep], n_windows=int(window is not None), timestamps=stamps
    )


def _surprise(values: list[float]) -> np.ndarray:
    detector = StreamingDetector()
    return np.array([detector.surprise(v, 300.0 * i) for i, v in enumerate(values)])


def test_alarms_are_sorted_into_hits_and_false_alarms_per_series_day():
    r = random.Random(3)
    spiky = [10 + r.gauss(0, 1) for _ in range(ROWS)]
    spiky[200] -= 20  # inside NAB's probation (a dip, the rises stay news): never counted
    spiky[1200] += 15  # inside the labelled window: a hit
    spiky[1700] += 60  # no window: a false alarm, far outside the range
    quiet = [10 + r.gauss(0, 1) for _ in range(ROWS)]
    files = [_record("a/spiky.csv", (1100, 1300)), _record("b/quiet.csv", None)]
    surprises = [_surprise(spiky), _surprise(quiet)]
    # The small spike's evidence sits between the two levels, the large one's above both.
    assert 30.0 < surprises[0][1200] < 60.0 < surprises[0][1700]

    def at(level: float) -> nab_levels.LevelCost:
        detections = [nab_crossval.alarms(s, level, REFRACTORY) for s in surprises]
        return nab_levels.count(files, detections, level, {"standard": 0.0})

    low, high = at(ALERT_SURPRISE), at(60.0)
    assert nab_crossval.alarms(surprises[0], ALERT_SURPRISE, REFRACTORY)[200]  # uncounted
    assert (low.hits, low.windows, low.false_alarms) == (1, 1, 1)
    assert (high.hits, high.windows, high.false_alarms) == (0, 1, 1)
    assert dict(low.per_folder) == {"a": 1}  # the quiet series raised nothing
    days = 2 * (ROWS - 1 - PROBATION) * 5 / 1440  # scored span of both files
    assert abs(low.series_days - days) < 1e-9
    assert abs(low.per_day - 1 / days) < 1e-9
    text = nab_levels.format_levels([low, high], "tiny")
    assert "(12 series-days scored)" in text
    assert " 1/1     1   0.085  a 1" in text and " 0/1     1" in text


def test_the_nested_grid_reaches_below_the_shipped_level_with_the_default_first():
    levels = nab_crossval.ALARM_GRID["alert_surprise"]
    assert levels[0] == ALERT_SURPRISE  # the in-sample reference reads configuration 0
    assert sorted(levels) == sorted(set(nab_crossval.ALARM_LEVELS) | {ALERT_SURPRISE})
    assert min(levels) == 3.0  # every fold chose the old floor (5); 3 still replays exactly
