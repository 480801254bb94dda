"""The fast path's judgements, pure: what a window of seconds says, as findings.

:class:`agents.monitor.fast_path.FastPath` reads the counters from Redis and records what
these return. Burst rules test a count in the window against the rate of the previous
``BASELINE_MINUTES`` (a Poisson tail); :func:`check_latency` a jump or a creep of the mean
latency; the seconds-level verdicts of :mod:`agents.monitor.short_baseline` become findings
here, and :func:`passing` drops the latency findings that are too brief to be a fault
(``PERSIST_SECONDS``) or that a burst of load explains.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from agents.models import AnomalyDetector
from agents.monitor import short_baseline
from agents.monitor.detector import ALERT_SURPRISE, SCORE_HALF
from agents.monitor.recording import Finding, utc
from agents.monitor.short_baseline import poisson_surprise
from agents.monitor.writer import Batch

logger = logging.getLogger(__name__)

#: Fast path: the window tested and the baseline it is tested against.
FAST_WINDOW_SECONDS = 10
BASELINE_MINUTES = 15


@dataclass(frozen=True)
class BurstRule:
    """A count in the fast window tested against its recent rate.

    ``count_field`` is counted per second; ``exposure_field`` (e.g. requests) turns it into a
    share, otherwise the exposure is time. ``prior_exposure`` is the least baseline exposure
    assumed (one event per that much exposure at most), so a fresh system does not fire on
    its first few events.
    """

    series: str
    count_field: str
    exposure_field: str | None
    prior_exposure: float
    min_count: int = 5
    min_ratio: float = 4.0


BURST_RULES: tuple[BurstRule, ...] = (
    BurstRule("imports.failed", "imports.failed", None, prior_exposure=60.0),
    BurstRule("api.error_rate", "api.errors", "api.count", prior_exposure=100.0),
)
#: Mean latency over the fast window against the baseline mean (a ratio, with minimum counts).
LATENCY_SERIES = "api.latency_mean"
#: Requests finishing per second, judged by :mod:`agents.monitor.short_baseline` for drops.
THROUGHPUT_SERIES = "api.throughput"
LATENCY_MIN_WINDOW = 20
LATENCY_MIN_BASELINE = 100
LATENCY_RATIO = 3.0
#: A creep: the window's mean this much above the baseline, with SUSTAINED_SECONDS of its
#: seconds (each with SUSTAINED_MIN_REQUESTS) above it too, so one slow second is not enough.
SUSTAINED_RATIO = 1.6
SUSTAINED_SECONDS = 7
SUSTAINED_MIN_REQUESTS = 3
#: Persistence: a latency finding needs PERSIST_SECONDS slow seconds in the last PERSIST_SPAN.
#: The queue a burst of concurrent requests builds drains within a few seconds (3 to 5 slow
#: seconds on the real Wagtail site, bursts of 30 searches), while a lock or a hung
#: dependency holds requests for as long as it lasts (every second slow), and a creep is
#: slow second after second: two windows' worth of time, most of it slow, tells them apart.
PERSIST_SPAN = 2 * FAST_WINDOW_SECONDS
PERSIST_SECONDS = 8
#: A jump of the window's mean counts only with this many slow seconds in it: a single
#: slow request (an ordinary import) lifts a ten-second mean threefold on its own.
JUMP_MIN_SECONDS = 3


def sustained_seconds(per_second: Iterable[tuple[float, float]], baseline_mean: float) -> int:
    """How many seconds of the window had a mean latency SUSTAINED_RATIO over the baseline."""
    return sum(
        1
        for count, total in per_second
        if count >= SUSTAINED_MIN_REQUESTS and total / count >= SUSTAINED_RATIO * baseline_mean
    )


def _score(surprise: float) -> float:
    """The detector's squashing, so a fast-path score reads like a minute score."""
    return surprise / (surprise + SCORE_HALF)


def _window_finding(
    series: str, end: int, surprise: float, *, window: int = FAST_WINDOW_SECONDS, **fields: Any
) -> Finding:
    """A fast-path finding over the ``window`` seconds that end with second ``end``."""
    return Finding(
        series=series,
        detector=AnomalyDetector.BURST,
        score=_score(surprise),
        window_start=utc(end - window + 1),
        window_end=utc(end + 1),
        **fields,
    )


def check_burst(
    rule: BurstRule,
    end: int,
    window: Mapping[str, float],
    baseline: Mapping[str, float],
    baseline_seconds: float,
    batch: Batch,
) -> Finding | None:
    """A finding when the window's count is far above what the baseline rate predicts."""
    count = int(round(window[rule.count_field]))
    if count < rule.min_count:
        return None
    if rule.exposure_field is None:
        exposure_now, exposure_before = float(FAST_WINDOW_SECONDS), baseline_seconds
    else:
        exposure_now, exposure_before = (
            window[rule.exposure_field],
            baseline[rule.exposure_field],
        )
    # One event per prior_exposure at most is assumed, so an empty history is not zero.
    rate = (baseline[rule.count_field] + 1.0) / max(exposure_before, rule.prior_exposure)
    expected = rate * exposure_now
    surprise = poisson_surprise(count, expected)
    if count < rule.min_ratio * expected or surprise < ALERT_SURPRISE:
        return None
    # A share is reported as a share (5xx / requests), a count as the window's count.
    value, expected_value = float(count), expected
    if rule.exposure_field is not None:
        value, expected_value = count / exposure_now, rate
    return _window_finding(
        rule.series,
        end,
        surprise,
        value=value,
        expected=expected_value,
        evidence={
            "count": count,
            "window_seconds": FAST_WINDOW_SECONDS,
            "exposure": exposure_now,
            "expected_count": round(expected, 4),
            "baseline_rate": rate,
            "baseline_minutes": BASELINE_MINUTES,
            "ratio": round(count / expected, 2) if expected else None,
            "surprise_decades": round(surprise, 2),
            "event_ids": batch.triggers[rule.series][-20:],
        },
        event_ids=tuple(batch.triggers[rule.series][-20:]),
        service=batch.sources.get(rule.series, ""),
    )


def check_latency(
    end: int, window: Mapping[str, Any], baseline: Mapping[str, float]
) -> Finding | None:
    """A finding when the window's mean latency jumped, or crept up second after second."""
    if window["api.count"] < LATENCY_MIN_WINDOW or baseline["api.count"] < LATENCY_MIN_BASELINE:
        return None
    mean_now = window["api.sum"] / window["api.count"]
    mean_before = baseline["api.sum"] / baseline["api.count"]
    if mean_before <= 0:
        return None
    ratio = mean_now / mean_before
    sustained = sustained_seconds(window.get("per_second", ()), mean_before)
    if ratio >= LATENCY_RATIO and sustained >= JUMP_MIN_SECONDS:
        threshold = LATENCY_RATIO  # a jump (in several seconds: one slow import is not one)
    elif ratio >= SUSTAINED_RATIO and sustained >= SUSTAINED_SECONDS:
        threshold = SUSTAINED_RATIO  # a creep: smaller, but second after second
    else:
        return None
    # Scaled so the threshold ratio scores exactly ALERT_SCORE.
    surprise = ALERT_SURPRISE * math.log(ratio) / math.log(threshold)
    return _window_finding(
        LATENCY_SERIES,
        end,
        surprise,
        value=mean_now,
        expected=mean_before,
        evidence={
            "requests": window["api.count"],
            "window_seconds": FAST_WINDOW_SECONDS,
            "baseline_mean_ms": mean_before,
            "baseline_requests": baseline["api.count"],
            "ratio": round(ratio, 2),
            "seconds_above": sustained,
            "kind": "jump" if threshold == LATENCY_RATIO else "sustained",
        },
    )


def slow_finding(end: int, verdict: short_baseline.SlowVerdict) -> Finding:
    ratio = verdict.mean_ms / verdict.median_ms if verdict.median_ms else 0.0
    surprise = ALERT_SURPRISE * (1 + verdict.slow_seconds / FAST_WINDOW_SECONDS)
    return _window_finding(
        LATENCY_SERIES,
        end,
        surprise,
        value=verdict.mean_ms,
        expected=verdict.median_ms,
        expected_high=verdict.threshold_ms,
        evidence={
            "kind": "slow-seconds",
            "window_seconds": FAST_WINDOW_SECONDS,
            "slow_seconds": verdict.slow_seconds,
            "seconds_with_requests": verdict.busy_seconds,
            "baseline_median_ms": round(verdict.median_ms, 2),
            "threshold_ms": round(verdict.threshold_ms, 2),
            "baseline_seconds": verdict.history_seconds,
            "ratio": round(ratio, 2),
        },
    )


def drop_finding(end: int, verdict: short_baseline.DropVerdict) -> Finding:
    window = short_baseline.DROP_WINDOW
    return _window_finding(
        THROUGHPUT_SERIES,
        end,
        verdict.surprise,
        window=window,
        value=verdict.observed / window,
        expected=verdict.expected / window,
        evidence={
            "kind": "throughput-drop",
            "window_seconds": window,
            "requests": verdict.observed,
            "expected_requests": round(verdict.expected, 1),
            "ratio": round(verdict.observed / verdict.expected, 2),
            "surprise_decades": round(verdict.surprise, 2),
            "baseline_seconds": verdict.history_seconds,
            "dispersion": round(verdict.dispersion, 2),
        },
    )


def passing(
    findings: list[Finding], seconds: list[tuple[float, float, float]], rate: float | None
) -> list[Finding]:
    """The findings, less the latency ones that are passing: too brief to be a fault, or
    explained by a burst of load (logged, not raised). ``seconds`` are (requests, latency
    sum, 5xx) per second, newest last; ``rate`` the usual requests per second."""
    kept = []
    for finding in findings:
        if finding.series != LATENCY_SERIES or not finding.expected:
            kept.append(finding)
            continue
        slow_ms = finding.expected_high or SUSTAINED_RATIO * finding.expected
        persisted = short_baseline.slow_count(seconds[-PERSIST_SPAN:], slow_ms)
        load = short_baseline.explained_by_load(seconds[-FAST_WINDOW_SECONDS:], slow_ms, rate)
        if persisted >= PERSIST_SECONDS and load is None:
            kept.append(finding)
        elif load is not None:
            logger.info(
                "latency %.0f ms (usually %.0f ms) explained by load: %d requests in %d slow "
                "seconds where %.0f were usual, %d of them 5xx",
                finding.value, finding.expected, load.served, load.slow_seconds, load.expected,
                load.errors,
            )  # fmt: skip
        else:
            logger.info(
                "latency %.0f ms (usually %.0f ms) too brief: %d slow seconds in the last %d",
                finding.value, finding.expected, persisted, PERSIST_SPAN,
            )  # fmt: skip
    return kept
