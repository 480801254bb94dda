"""The detector on count-like series (issue 15): a sustained drop to zero is paged, a dip is not.

A request counter's noise grows with its level (Poisson), so on raw errors a busy day's noise
hides a drop to zero at a shoulder hour. The square-root seasonal view (``stabilise.py``)
measures falls on roots and counts them only once they persist for ``PERSIST`` rows.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from agents.monitor import stabilise
from agents.monitor.detector import ALERT_SCORE, STATE_VERSION, StreamingDetector

FIVE_MINUTES = 300.0
START = 1_700_000_000.0
DAY = 288
EVENING = DAY * 8 + 19 * 12  # 19:00 on day 8: about 38 requests per row expected


def _requests(seed: int = 0, days: int = 10) -> list[float]:
    """Poisson counts, 3 at night to 153 at 13:00, with rare heavy-tailed bursts."""
    rng = np.random.default_rng(seed)
    hours = (np.arange(DAY * days) % DAY) / 12.0
    rate = 3 + 150 * np.exp(-0.5 * ((hours - 13) / 3.5) ** 2)
    burst = 1 + np.where(rng.random(len(hours)) < 0.01, rng.pareto(1.5, len(hours)), 0.0)
    return [float(v) for v in rng.poisson(rate * burst)]


def _alerts(values: list[float], detector: StreamingDetector | None = None) -> list[int]:
    detector = detector or StreamingDetector()
    stamps = [START + i * FIVE_MINUTES for i in range(len(values))]
    return [i for i, (v, t) in enumerate(zip(values, stamps, strict=True))
            if detector.update(v, t) >= ALERT_SCORE]  # fmt: skip


def _with_zeros(values: list[float], at: int, rows: int) -> list[float]:
    return values[:at] + [0.0] * rows + values[at + rows :]


def test_a_sustained_drop_to_zero_on_a_request_counter_is_paged():
    alerts = _alerts(_with_zeros(_requests(), EVENING, 36))
    inside = [i - EVENING for i in alerts if EVENING <= i < EVENING + 36]
    # Paged once the fall has lasted PERSIST rows (an hour), not at its first row.
    assert inside == [stabilise.PERSIST - 1]


def test_on_raw_errors_alone_the_same_drop_is_missed(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(stabilise.StabilisedViews, "count_like", lambda self, lowest: False)
    alerts = _alerts(_with_zeros(_requests(), EVENING, 36))
    assert not [i for i in alerts if EVENING <= i < EVENING + 36]


def test_a_two_row_dip_to_zero_changes_no_alarm():
    values = _requests()
    assert _alerts(_with_zeros(values, EVENING, 2)) == _alerts(values)


def test_only_a_series_whose_spread_grows_with_its_level_is_count_like():
    counts, additive = StreamingDetector(), StreamingDetector()
    rng = np.random.default_rng(1)
    for i, v in enumerate(_requests(days=4)):
        counts.update(v, START + i * FIVE_MINUTES)
        level = 3 + 150 * math.exp(-0.5 * (((i % DAY) / 12.0 - 13) / 3.5) ** 2)
        additive.update(level + rng.normal(0, 6), START + i * FIVE_MINUTES)
    assert counts.stable.count_like(0.0)
    assert not additive.stable.count_like(0.0)
    assert not counts.stable.count_like(-1.0)  # a series that went negative never is


def test_a_version_1_state_still_loads_and_learns_the_root_view_afresh():
    values = _with_zeros(_requests(), EVENING, 36)
    old = StreamingDetector()
    for i, v in enumerate(values[: DAY * 5]):
        old.update(v, START + i * FIVE_MINUTES)
    state = old.to_state()
    assert state["version"] == STATE_VERSION == 2
    # Version 1 (before the root view) had exactly these keys.
    del state["stable"]
    state["version"] = 1
    restored = StreamingDetector.from_state(state)
    assert restored.n == old.n and restored.stable.trend.stats[0][0] == 0
    # Three days are enough to learn the root view again: the drop on day 8 is still paged.
    stamps = [START + i * FIVE_MINUTES for i in range(len(values))]
    alerts = [i for i in range(DAY * 5, len(values))
              if restored.update(values[i], stamps[i]) >= ALERT_SCORE]  # fmt: skip
    assert EVENING + stabilise.PERSIST - 1 in alerts
    with pytest.raises(ValueError, match="unsupported detector state version"):
        StreamingDetector.from_state({**state, "version": 3})
