"""Seconds-level judgements that need no warm-up: slow seconds and throughput drops.

The minute detectors learn for hours before they speak, and the fast path's first checks
compare with the previous minutes' totals, so a service onboarded a minute ago was judged
by nothing. These checks read the per-second counters of the last ``HISTORY_SECONDS`` (kept
in Redis by the writer) and judge with robust statistics that need only half a minute of
traffic:

* **Slow seconds.** The median and MAD of the per-second mean latencies are the baseline; a
  second is slow when its mean is above both ``median * ratio`` and ``median + k * sigma``,
  where ``ratio`` and ``k`` start conservative and tighten as seconds of history accumulate
  (:func:`tightness`). An anomaly needs ``SLOW_SECONDS`` slow seconds in the window and at
  least half of its seconds with traffic: one slow import or a two-second burst from a cron
  job is not a fault, a dependency that makes every request wait is.
* **Throughput drops.** A hang upstream does not only slow requests, it lowers how many
  finish. Requests over ``DROP_WINDOW`` seconds are compared with the rate since traffic
  began (at most ``HISTORY_SECONDS``), with the spread of the per-second counts as the noise
  (an overdispersed Poisson): a drop needs the count under ``DROP_RATIO`` of what was expected
  and ``DROP_SURPRISE`` decades of improbability. The window ends ``LAG_SECONDS`` ago, so
  events still in flight from SDK buffers are not read as missing.

* **Load.** A latency rise is not a fault when the app was busier than usual and coped: in
  the seconds that were slow it served ``LOAD_RATIO`` times its usual rate or more (with
  ``LOAD_SURPRISE`` decades of Poisson improbability, so two extra requests are not a surge)
  and almost no 5xx (``LOAD_MAX_ERROR_SHARE``). A surge of independent callers (a crawler,
  a cron job fanning out) looks so: the app runs at its capacity, above its usual rate, and
  every request waits a little. The faults that slow requests do the opposite: a lock or a
  hung dependency holds requests, so *fewer* finish (and many that do are errors); a slower
  release serves the usual rate, slower. Callers that wait for their answer (a browser, a
  closed-loop client) hide a burst from this test, since the usual traffic slows down
  while the burst is served; that burst is brief, and persistence
  (:data:`agents.monitor.fast_checks.PERSIST_SECONDS`) is the gate that holds it. Both
  gates are applied to every latency finding by :func:`agents.monitor.fast_checks.passing`.

Pure functions over lists of (requests, latency sum) per second, so they are tested alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from agents.monitor.detector import ALERT_SURPRISE

#: Per-second history read for the baselines (the writer keeps second keys a little longer).
HISTORY_SECONDS = 300
#: Seconds with traffic needed before either check judges anything.
MIN_HISTORY_SECONDS = 30
#: Slow seconds: how many, in the fast window, make an anomaly.
SLOW_SECONDS = 5
#: Conservative at first, tighter with history: (ratio, k) at MIN_HISTORY_SECONDS and at the
#: full HISTORY_SECONDS, interpolated on 1/sqrt(seconds) (the error of a median shrinks so).
RATIO_RANGE = (3.0, 1.8)
K_RANGE = (12.0, 5.0)
#: Throughput: the window, its lag behind the newest second, and the alarm conditions.
DROP_WINDOW = 20
LAG_SECONDS = 2
DROP_RATIO = 0.5
DROP_SURPRISE = 6.0
MIN_EXPECTED = 20.0
#: Load: the slow seconds served at least LOAD_RATIO x the usual rate, LOAD_SURPRISE decades
#: above it (a Poisson tail), with at most LOAD_MAX_ERROR_SHARE of them 5xx.
LOAD_RATIO = 1.5
LOAD_SURPRISE = 3.0
LOAD_MAX_ERROR_SHARE = 0.02

_SQRT2 = math.sqrt(2.0)


@dataclass(frozen=True)
class SlowVerdict:
    median_ms: float
    threshold_ms: float
    slow_seconds: int
    busy_seconds: int
    history_seconds: int
    mean_ms: float


@dataclass(frozen=True)
class LoadVerdict:
    served: float
    expected: float
    errors: float
    slow_seconds: int


@dataclass(frozen=True)
class DropVerdict:
    observed: float
    expected: float
    surprise: float
    history_seconds: int
    dispersion: float


def tightness(history_seconds: int) -> tuple[float, float]:
    """(ratio, k) for a baseline of this many seconds: wide when young, tight when old."""
    young = 1.0 / math.sqrt(MIN_HISTORY_SECONDS)
    old = 1.0 / math.sqrt(HISTORY_SECONDS)
    now = 1.0 / math.sqrt(max(history_seconds, MIN_HISTORY_SECONDS))
    t = min(1.0, max(0.0, (young - now) / (young - old)))
    return (
        RATIO_RANGE[0] + t * (RATIO_RANGE[1] - RATIO_RANGE[0]),
        K_RANGE[0] + t * (K_RANGE[1] - K_RANGE[0]),
    )


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    return ordered[n // 2] if n % 2 else 0.5 * (ordered[n // 2 - 1] + ordered[n // 2])


def slow_seconds(
    history: Sequence[tuple[float, float]], window: Sequence[tuple[float, float]]
) -> SlowVerdict | None:
    """A verdict when the window has enough slow seconds against the history's median."""
    means = [total / count for count, total in history if count > 0]
    if len(means) < MIN_HISTORY_SECONDS:
        return None
    median = _median(means)
    sigma = max(1.4826 * _median([abs(m - median) for m in means]), 0.1 * median, 1.0)
    ratio, k = tightness(len(means))
    threshold = max(median * ratio, median + k * sigma)
    busy = [(count, total) for count, total in window if count > 0]
    slow = sum(1 for count, total in busy if total / count > threshold)
    if slow < SLOW_SECONDS or slow * 2 < len(busy):
        return None
    requests = sum(count for count, _ in busy)
    mean = sum(total for _, total in busy) / requests
    return SlowVerdict(median, threshold, slow, len(busy), len(means), mean)


def _gaussian_decades(z: float) -> float:
    if z <= 0:
        return 0.0
    p = 0.5 * math.erfc(z / _SQRT2)
    return 300.0 if p <= 0 else -math.log10(p)


def throughput_drop(history: Sequence[float], window: Sequence[float]) -> DropVerdict | None:
    """A verdict when the window's requests fell far below the rate since traffic began.

    ``history`` is requests per second before the window, oldest first; seconds before the
    first request are not history (a service onboarded a minute ago has a minute of it).
    """
    first = next((i for i, count in enumerate(history) if count > 0), None)
    if first is None:
        return None
    counts = list(history[first:])
    if len(counts) < MIN_HISTORY_SECONDS:
        return None
    rate = sum(counts) / len(counts)
    expected = rate * len(window)
    if expected < MIN_EXPECTED:
        return None
    variance = sum((c - rate) ** 2 for c in counts) / max(len(counts) - 1, 1)
    # Bursty traffic (imports, cron jobs) spreads per-second counts beyond Poisson: the
    # window's noise grows with it, so bursts in the baseline make the check more careful.
    dispersion = max(1.0, variance / rate) if rate > 0 else 1.0
    observed = float(sum(window))
    if observed > DROP_RATIO * expected:
        return None
    z = (expected - observed) / math.sqrt(expected * dispersion)
    surprise = _gaussian_decades(z)
    if surprise < DROP_SURPRISE:
        return None
    return DropVerdict(observed, expected, surprise, len(counts), dispersion)


def poisson_surprise(count: int, expected: float) -> float:
    """``-log10 P(X >= count)`` for X ~ Poisson(expected): decades of improbability."""
    if count <= 0 or expected <= 0:
        return 0.0 if count <= 0 else ALERT_SURPRISE * 10
    log_term = count * math.log(expected) - expected - math.lgamma(count + 1)
    total, term, k = 1.0, 1.0, count
    while term > 1e-12 and k < count + 10_000:
        k += 1
        term *= expected / k
        total += term
    return max(0.0, -(log_term + math.log(total)) / math.log(10))


def slow_count(seconds: Sequence[tuple[float, float, float]], slow_ms: float) -> int:
    """How many of these seconds (requests, latency sum, ...) had a mean of ``slow_ms`` or more."""
    return sum(1 for count, total, *_ in seconds if count and total / count >= slow_ms)


def usual_rate(history: Sequence[float]) -> float | None:
    """Requests per second since traffic began (None before MIN_HISTORY_SECONDS of it)."""
    first = next((i for i, count in enumerate(history) if count > 0), None)
    if first is None or len(history) - first < MIN_HISTORY_SECONDS:
        return None
    return sum(history[first:]) / (len(history) - first)


def explained_by_load(
    window: Sequence[tuple[float, float, float]], slow_ms: float, rate: float | None
) -> LoadVerdict | None:
    """A verdict when the window's slow seconds (mean latency >= ``slow_ms``) served far more
    requests than ``rate`` per second, nearly all without 5xx: a burst, not a fault.

    ``window`` is (requests, latency sum, 5xx) per second.
    """
    if not rate or slow_ms <= 0:
        return None
    slow = [
        (count, errors) for count, total, errors in window if count and total / count >= slow_ms
    ]
    served = sum(count for count, _ in slow)
    errors = sum(errors for _, errors in slow)
    expected = rate * len(slow)
    if not slow or served < LOAD_RATIO * expected or errors > LOAD_MAX_ERROR_SHARE * served:
        return None
    if poisson_surprise(int(served), expected) < LOAD_SURPRISE:
        return None
    return LoadVerdict(served, expected, errors, len(slow))
