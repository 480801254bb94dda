"""The monitor's detector on small synthetic series (issue 15): what it must and must not flag.

Pinned on textbook cases rather than on benchmark files: a spike, a level shift, a daily
seasonal series (quiet) and a break of its daily shape, a slow drift (quiet), and the
online property (a score never depends on later rows).
"""

from __future__ import annotations

import json
import math
import random

import pytest

from agents.monitor.detector import ALERT_SCORE, PROBATION, StreamingDetector

FIVE_MINUTES = 300.0
START = 1_700_000_000.0
DAY = 288  # five-minute rows per day


def _scores(values: list[float]) -> list[float]:
    detector = StreamingDetector()
    return [detector.update(v, START + i * FIVE_MINUTES) for i, v in enumerate(values)]


def _alerts(values: list[float]) -> list[int]:
    return [i for i, score in enumerate(_scores(values)) if score >= ALERT_SCORE]


@pytest.fixture
def noise() -> list[float]:
    r = random.Random(3)
    return [10 + r.gauss(0, 1) for _ in range(2000)]


def test_a_noisy_flat_series_raises_nothing(noise: list[float]):
    assert _alerts(noise) == []


def test_a_spike_is_flagged_where_it_happens(noise: list[float]):
    noise[1200] += 12
    assert _alerts(noise) == [1200]


def test_a_level_shift_is_flagged_once_at_its_start(noise: list[float]):
    shifted = noise[:1200] + [v + 6 for v in noise[1200:]]
    assert _alerts(shifted) == [1200]


def _daily(days: int, seed: int = 5) -> list[float]:
    r = random.Random(seed)
    return [10 + 5 * math.sin(2 * math.pi * i / DAY) + r.gauss(0, 0.5) for i in range(DAY * days)]


def test_a_daily_cycle_is_learned_and_raises_nothing():
    assert _alerts(_daily(8)) == []


def test_a_value_normal_for_another_hour_is_flagged():
    series = _daily(8)
    at_peak = DAY * 7 + DAY // 4
    series[at_peak] = 5.0  # the trough's level at the hour of the peak: within range
    assert _alerts(series) == [at_peak]


def test_a_slow_drift_is_followed_without_alarms():
    r = random.Random(9)
    assert _alerts([10 + 0.003 * i + r.gauss(0, 1) for i in range(4000)]) == []


def test_scores_are_online_and_start_after_probation(noise: list[float]):
    noise[1500] += 12
    full = _scores(noise)
    assert _scores(noise[:1000]) == full[:1000]  # later rows change no earlier score
    assert all(score == 0.0 for score in full[: PROBATION - 1])


def _record_after(spiky: bool) -> list[int]:
    """Alarms when a value beats the series' record by 3 (about 2 IQR) at row 2550."""
    r = random.Random(4)
    values = [10 + r.gauss(0, 1) for _ in range(2600)]
    if spiky:  # routine benign spikes of 8 to 30 standard deviations
        for i in range(30, 2500, 97):
            values[i] += 8 + 22 * ((i * 7919) % 97) / 96
    values[2550] = max(values[:2550]) + 3.0
    return _alerts(values)


def test_a_new_record_is_news_on_a_quiet_series_but_not_among_routine_spikes():
    assert _record_after(spiky=False) == [2550]
    assert _record_after(spiky=True) == []


def test_a_detector_restored_from_its_state_continues_bit_for_bit():
    r = random.Random(11)
    series = [10 + 5 * math.sin(2 * math.pi * i / DAY) + r.gauss(0, 1) for i in range(1500)]
    series[1300] += 15
    whole, first = StreamingDetector(), StreamingDetector()
    expected = [whole.update(v, START + i * FIVE_MINUTES) for i, v in enumerate(series)]
    for i, v in enumerate(series[:700]):
        first.update(v, START + i * FIVE_MINUTES)
    restored = StreamingDetector.from_state(json.loads(json.dumps(first.to_state())))
    rest = [restored.update(v, START + i * FIVE_MINUTES) for i, v in enumerate(series) if i >= 700]
    assert rest == expected[700:]
    assert max(rest) >= ALERT_SCORE  # the spike still alarms after the restore
