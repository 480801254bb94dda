"""A latency rise the app served more requests than usual through, without errors, is load.

A burst of concurrent requests (a cron job, a crawler) makes every request wait a little: the
app runs at its capacity, above its usual rate. A lock or a hung dependency holds requests,
so fewer finish, and many that do are errors. The first is not an anomaly; the second is,
even when it starts during a burst. Pure verdicts first, then through the real monitor (the
mesh and the agent's own consumer loop, as in ``test_monitor_cold_start.py``).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from agents.models import Anomaly
from agents.monitor import fast_checks, fast_path, short_baseline
from agents.monitor.short_baseline import explained_by_load
from tests.agents.test_monitor_cold_start import Traffic, run, start_time

RATE = 5.0  # requests per second usually served
USUAL_MS = 20.0


@pytest.fixture(autouse=True)
def check_every_batch(monkeypatch):
    monkeypatch.setattr(fast_path, "LATENCY_CHECK_SECONDS", 0.0)  # replayed faster than life


def seconds(count: float, ms: float, errors: float = 0, n: int = 5) -> list:
    return [(count, count * ms, errors)] * n


def test_a_burst_served_above_the_usual_rate_without_errors_is_load() -> None:
    burst = seconds(11, 600) + seconds(5, USUAL_MS)
    verdict = explained_by_load(burst, 1.6 * USUAL_MS, RATE)
    assert verdict is not None
    assert (verdict.served, verdict.slow_seconds, verdict.expected) == (55, 5, 25.0)


@pytest.mark.parametrize(
    "window",
    [
        seconds(5, 600) + seconds(5, USUAL_MS),  # slow at the usual rate: requests held
        seconds(2, 3000) + seconds(5, USUAL_MS),  # fewer finish: a hang
        seconds(11, 600, errors=2),  # more served, but a fifth of them 5xx: failing fast
    ],
    ids=["usual-rate", "fewer", "errors"],
)
def test_a_slowdown_without_more_requests_served_cleanly_is_not_load(window) -> None:
    assert explained_by_load(window, 1.6 * USUAL_MS, RATE) is None


def test_a_couple_of_extra_requests_are_no_surge() -> None:
    # 0.2 requests a second usually; 2 in one slow second is 10x, but not improbable enough.
    assert explained_by_load([(2, 1200, 0)], 1.6 * USUAL_MS, 0.2) is None
    assert explained_by_load([(9, 5400, 0)], 1.6 * USUAL_MS, 0.2) is not None


def queued_burst(
    traffic: Traffic,
    *,
    seconds: int = 5,
    served: float = RATE,
    scale_after: float = 1.0,
    after: int = 30,
) -> None:
    """Concurrent requests queued on the app for ``seconds``: each waits ~1 s, the usual
    traffic waits behind them, ``served`` requests a second finish (closed-loop clients wait,
    so about the usual rate; open-loop ones do not, so more); then ``after`` seconds at
    ``scale_after`` times the usual latency."""
    for _ in range(seconds):
        extra = tuple(traffic.rng.uniform(500, 1500) for _ in range(int(served - RATE) + 3))
        traffic.second(rate=3.0, scale=4.0, extra=extra)
    traffic.flush()
    run(traffic, after, rate=RATE, scale=scale_after)


def onboarded() -> Traffic:
    traffic = Traffic(start_time(), seed=5)
    run(traffic, 120, rate=RATE)
    return traffic


@pytest.mark.django_db(transaction=True)
def test_brief_queues_and_long_surges_served_cleanly_raise_nothing() -> None:
    traffic = onboarded()
    for _ in range(3):
        queued_burst(traffic, after=40)  # a cron job's burst: five slow seconds
    queued_burst(traffic, seconds=15, served=2.5 * RATE, after=40)  # a crawler, for 15 s
    assert list(Anomaly.objects.values_list("series", "evidence")) == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("rule", "off", "burst"),
    [
        ("PERSIST_SECONDS", 0, {}),
        ("LOAD_RATIO", float("inf"), {"seconds": 15, "served": 2.5 * RATE}),
    ],
    ids=["persistence", "load"],
)
def test_without_its_rule_each_would_be_an_anomaly(monkeypatch, rule, off, burst) -> None:
    module = fast_checks if rule == "PERSIST_SECONDS" else short_baseline
    monkeypatch.setattr(module, rule, off)
    traffic = onboarded()
    queued_burst(traffic, after=10, **burst)
    assert Anomaly.objects.filter(series="api.latency_mean").exists()


@pytest.mark.django_db(transaction=True)
def test_a_slowdown_that_starts_with_a_burst_is_found_once_the_burst_has_passed() -> None:
    traffic = onboarded()
    burst_end = traffic.at + timedelta(seconds=5)
    queued_burst(traffic, scale_after=8.0, after=30)  # the app stays slow at the usual rate
    found = Anomaly.objects.filter(series="api.latency_mean").order_by("window_end").first()
    assert found is not None
    assert 0 < (found.window_end - burst_end).total_seconds() <= 20
