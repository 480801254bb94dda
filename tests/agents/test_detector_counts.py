"""Count-like series (issue 15): errors on square roots when noise grows with the level.

A Poisson series with a daily cycle (about 3 at night, 150 at the peak) has busy-hour noise
four times its quiet-hour noise; a drop to zero at a mid-level hour is within the series'
range, so only the error views can see it, and on raw errors the busy hours' noise hides it
for several rows.
"""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest

from agents.monitor import stabilise
from agents.monitor.detector import ALERT_SCORE, StreamingDetector

START = 1_700_000_000.0
DAY = 288
DROP_AT = DAY * 7 + DAY // 12  # mid-morning of day 8: expected level about 40


def _counts(seed: int, drop: bool) -> list[float]:
    rng = np.random.default_rng(seed)
    rates = [3 + 150 * math.sin(2 * math.pi * i / DAY) ** 2 for i in range(DAY * 8)]
    values = [float(v) for v in rng.poisson([max(r, 0.0) for r in rates])]
    if drop:
        values[DROP_AT : DROP_AT + 24] = [0.0] * 24
    return values


def _run(values: list[float]) -> tuple[StreamingDetector, list[int]]:
    detector = StreamingDetector()
    alerts = [
        i for i, v in enumerate(values) if detector.update(v, START + i * 300.0) >= ALERT_SCORE
    ]
    return detector, alerts


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_poisson_series_is_recognised_as_count_like_and_stays_quiet(seed: int):
    detector, alerts = _run(_counts(seed, drop=False))
    assert alerts == []
    exponent = detector.stable.trend.exponent()
    assert exponent is not None and 0.4 < exponent < 0.65  # Poisson: spread ~ level ** 0.5
    assert detector.stable.count_like(0.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_drop_to_zero_is_caught_at_once_on_roots_but_late_on_raw_errors(
    seed: int, monkeypatch: pytest.MonkeyPatch
):
    values = _counts(seed, drop=True)
    _, stabilised = _run(values)
    assert stabilised and DROP_AT <= stabilised[0] <= DROP_AT + 1
    monkeypatch.setattr(stabilise, "COUNT_EXPONENT", math.inf)  # raw errors only
    _, raw = _run(values)
    assert raw and raw[0] >= DROP_AT + 4


def test_additive_noise_and_negative_series_keep_raw_errors():
    r = random.Random(2)
    daily = [100 + 50 * math.sin(2 * math.pi * i / DAY) + r.gauss(0, 5) for i in range(DAY * 6)]
    detector, _ = _run(daily)
    exponent = detector.stable.trend.exponent()
    assert exponent is not None and abs(exponent) < 0.15
    assert not detector.stable.count_like(0.0)
    # A series that went negative is never count-like, whatever its spread does.
    counts, _ = _run(_counts(0, drop=False))
    assert counts.stable.count_like(0.0) and not counts.stable.count_like(-1.0)


def test_state_round_trip_and_version_1_state_loads():
    values = _counts(1, drop=True)
    whole, first = StreamingDetector(), StreamingDetector()
    expected = [whole.update(v, START + i * 300.0) for i, v in enumerate(values)]
    for i, v in enumerate(values[:1800]):
        first.update(v, START + i * 300.0)
    state = json.loads(json.dumps(first.to_state()))
    assert state["version"] == 2
    restored = StreamingDetector.from_state(state)
    assert [restored.update(v, START + i * 300.0) for i, v in enumerate(values) if i >= 1800] == (
        expected[1800:]
    )
    # A state saved before the square-root views existed: they restart and stay unused
    # (raw errors) until their spread estimate has warmed up; nothing else is lost.
    del state["stable"]
    state["version"] = 1
    old = StreamingDetector.from_state(state)
    assert old.n == 1800 and old.stable.trend.exponent() is None
    assert not old.stable.count_like(0.0)
    assert max(old.update(v, START + i * 300.0) for i, v in enumerate(values) if i >= 1800) >= (
        ALERT_SCORE
    )
