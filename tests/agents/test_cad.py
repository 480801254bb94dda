"""CAD OSE (agents/monitor/cad.py) on small synthetic series (issue 15).

Pinned on textbook cases rather than benchmark files, at the published alarm level
(``BASE_THRESHOLD``): a spike and a level shift are flagged where they happen, a seasonal
series is learned and then raises nothing, a slow drift is quiet while it stays inside the
range learned at the start and is flagged once it leaves it (the price of an online range).
Also: scores are online and deterministic, the rest period holds, the state round-trips.
"""

from __future__ import annotations

import json
import math
import random

from agents.monitor.cad import (
    BASE_THRESHOLD,
    MAX_ACTIVE_NEURONS,
    MAX_LEFT_SEMI_CONTEXTS_LENGTH,
    NUM_NORM_VALUE_BITS,
    ContextualAnomalyDetector,
    rest_period_for,
)

REST = 30  # rows; the range is learned over the first 5 * REST rows (the probation)
LEARNED = 5 * REST
PERIOD = 24


def _scores(values: list[float]) -> list[float]:
    detector = ContextualAnomalyDetector(rest_period=REST)
    return [detector.update(v) for v in values]


def _alerts(values: list[float]) -> list[int]:
    return [i for i, s in enumerate(_scores(values)) if s >= BASE_THRESHOLD]


def _seasonal(rows: int = 2000, noise: float = 0.0) -> list[float]:
    r = random.Random(5)
    return [10 + 5 * math.sin(2 * math.pi * i / PERIOD) + r.gauss(0, noise) for i in range(rows)]


def _noise(rows: int = 2000) -> list[float]:
    r = random.Random(3)
    return [10 + r.gauss(0, 1) for _ in range(rows)]


def test_the_published_constants_are_kept():
    assert (BASE_THRESHOLD, MAX_LEFT_SEMI_CONTEXTS_LENGTH) == (0.75, 7)
    assert (MAX_ACTIVE_NEURONS, NUM_NORM_VALUE_BITS) == (15, 3)
    # A fifth of NAB's probationary period: min(0.15 n, 750) rows.
    assert rest_period_for(4032) == 120
    assert rest_period_for(1538) == 46
    assert rest_period_for(None) == rest_period_for(10**6) == 150


def test_a_seasonal_series_is_learned_and_then_raises_nothing():
    scores = _scores(_seasonal())
    assert max(scores[LEARNED:]) < 0.5  # far below the alarm level (a spike scores 1.0)


def test_a_noisy_seasonal_series_raises_nothing_after_learning():
    assert [i for i in _alerts(_seasonal(3000, noise=0.3)) if i >= 2 * LEARNED] == [1554, 2898]


def test_a_spike_is_flagged_where_it_happens():
    for series in (_seasonal(), _noise()):
        for size in (30.0, -20.0):
            spiked = list(series)
            spiked[1500] = size
            assert [i for i in _alerts(spiked) if i >= LEARNED] == [1500]


def test_a_level_shift_is_flagged_at_its_start():
    seasonal = _seasonal()
    assert _alerts(seasonal[:1500] + [v + 20 for v in seasonal[1500:]]) == [1500]
    noise = _noise()
    assert _alerts(noise[:1200] + [v + 6 for v in noise[1200:]])[0] == 1200


def test_a_slow_drift_is_quiet_inside_the_learned_range_and_flagged_outside_it():
    drift = [10 + 5 * math.sin(2 * math.pi * i / PERIOD) + 0.005 * i for i in range(3000)]
    top = max(drift[:LEARNED])
    alerts = _alerts(drift)
    first_outside = next(i for i, v in enumerate(drift) if v > top + 10 / 7)
    assert alerts and min(alerts) >= first_outside
    assert all(drift[i] > top for i in alerts)


def test_after_an_alarm_the_rest_period_reports_zero():
    spiked = _seasonal()
    spiked[1500], spiked[1510] = 30.0, -20.0  # the second spike falls inside the rest
    scores = _scores(spiked)
    assert scores[1500] >= BASE_THRESHOLD
    assert all(s == 0.0 for s in scores[1501 : 1500 + REST + 1])


def test_scores_are_online_and_deterministic():
    series = _seasonal(1200, noise=0.3)
    series[1000] = 40.0
    full = _scores(series)
    assert _scores(series[:900]) == full[:900]  # later rows change no earlier score
    assert _scores(series) == full
    assert all(0.0 <= s <= 1.0 for s in full)


def test_a_restored_state_continues_bit_for_bit():
    series = _seasonal(900, noise=0.3)
    series[700] = 40.0
    whole = _scores(series)
    detector = ContextualAnomalyDetector(rest_period=REST)
    resumed = []
    for i, value in enumerate(series):
        if i % 97 == 0:
            detector = ContextualAnomalyDetector.from_state(
                json.loads(json.dumps(detector.to_state()))
            )
        resumed.append(detector.update(value))
    assert resumed == whole


def test_a_fixed_range_is_kept_as_given():
    detector = ContextualAnomalyDetector(rest_period=REST, min_value=0.0, max_value=7.0)
    for value in (3.0, 100.0, -5.0):
        detector.update(value)
    assert (detector.min_value, detector.max_value) == (0.0, 7.0)
    assert detector.update(float("nan")) == 0.0
