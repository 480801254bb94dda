"""The fast path: bursts and latency jumps seen within seconds, not at the next minute.

Minute rollups cannot see a fault in under a second, so each batch's per-second counters are
tested over the last ``FAST_WINDOW_SECONDS`` against the rate of the previous
``BASELINE_MINUTES`` (a Poisson tail for counts, a ratio for mean latency), with minimum
counts. The per-series cooldown of :mod:`agents.monitor.recording` turns a burst into one
anomaly; it is re-armed early once the series is quiet again.
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import redis

from agents.models import Anomaly, AnomalyDetector
from agents.monitor import short_baseline, store
from agents.monitor.detector import ALERT_SURPRISE, SCORE_HALF
from agents.monitor.recording import COOLDOWN_SECONDS, AnomalyRecorder, Finding, utc
from agents.monitor.writer import Batch

logger = logging.getLogger(__name__)

#: Fast path: the window tested and the baseline it is tested against.
FAST_WINDOW_SECONDS = 10
BASELINE_MINUTES = 15
#: A fast-path cooldown ends this long after its anomaly once the series is normal again.
REARM_AFTER_SECONDS = 30
LATENCY_CHECK_SECONDS = 1.0
BASELINE_TTL = 5.0


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


def _score(surprise: float) -> float:
    """The detector's squashing, so a fast-path score reads like a minute score."""
    return surprise / (surprise + SCORE_HALF)


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
    return Finding(
        series=rule.series,
        detector=AnomalyDetector.BURST,
        score=_score(surprise),
        value=value,
        window_start=utc(end - FAST_WINDOW_SECONDS + 1),
        window_end=utc(end + 1),
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
    return Finding(
        series=LATENCY_SERIES,
        detector=AnomalyDetector.BURST,
        score=_score(surprise),
        value=mean_now,
        window_start=utc(end - FAST_WINDOW_SECONDS + 1),
        window_end=utc(end + 1),
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


def _slow_finding(end: int, verdict: short_baseline.SlowVerdict) -> Finding:
    ratio = verdict.mean_ms / verdict.median_ms if verdict.median_ms else 0.0
    surprise = ALERT_SURPRISE * (1 + verdict.slow_seconds / FAST_WINDOW_SECONDS)
    return Finding(
        series=LATENCY_SERIES,
        detector=AnomalyDetector.BURST,
        score=_score(surprise),
        value=verdict.mean_ms,
        window_start=utc(end - FAST_WINDOW_SECONDS + 1),
        window_end=utc(end + 1),
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


def _drop_finding(end: int, verdict: short_baseline.DropVerdict) -> Finding:
    window = short_baseline.DROP_WINDOW
    return Finding(
        series=THROUGHPUT_SERIES,
        detector=AnomalyDetector.BURST,
        score=_score(verdict.surprise),
        value=verdict.observed / window,
        window_start=utc(end - window + 1),
        window_end=utc(end + 1),
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


class FastPath(store.RedisBacked):
    """Runs the checks after each written batch; keeps the baseline briefly cached."""

    def __init__(self, recorder: AnomalyRecorder, client: redis.Redis | None = None) -> None:
        super().__init__(client)
        self.recorder = recorder
        self._last_latency_check = 0.0
        self._baseline_cache: tuple[int, float, dict[str, float], float] | None = None
        self._service = ""  # the service whose requests were seen last (findings name it)

    def check(self, batch: Batch) -> list[Anomaly]:
        """Test the window ending at the batch's last second; returns the anomalies raised."""
        now = time.monotonic()
        check_latency_now = now - self._last_latency_check >= LATENCY_CHECK_SECONDS
        if not batch.triggers and not check_latency_now:
            return []
        if check_latency_now:
            self._last_latency_check = now
        end = batch.last_second
        if end is None:  # cannot happen: a batch with pending minutes has seen a timestamp
            return []
        window, baseline, baseline_seconds = self._counters(end)
        findings = []
        for rule in BURST_RULES:
            if rule.series in batch.triggers:
                finding = check_burst(rule, end, window, baseline, baseline_seconds, batch)
                if finding is not None:
                    findings.append(finding)
        if "api" in batch.sources:
            self._service = batch.sources["api"]
        if check_latency_now:
            finding = check_latency(end, window, baseline)
            if finding is not None:
                findings.append(finding)
            findings += self.short_checks(end)
            self._rearm_quiet_series(window, baseline)
        return self._record([replace(f, service=f.service or self._service) for f in findings])

    def check_quiet(self, now: float) -> list[Anomaly]:
        """The seconds-level checks with no batch to start them (from the agent's tick): when
        requests hang, no events arrive, and silence is itself the symptom."""
        findings = self.short_checks(int(now))
        return self._record([replace(f, service=f.service or self._service) for f in findings])

    def short_checks(self, end: int) -> list[Finding]:
        """Slow seconds and a throughput drop against the per-second history (no warm-up)."""
        span = short_baseline.HISTORY_SECONDS + short_baseline.DROP_WINDOW
        first = end - span - short_baseline.LAG_SECONDS + 1
        pipe = self.client.pipeline(transaction=False)
        for second in range(first, end + 1):
            pipe.hmget(store.second_key(second), ["api.count", "api.sum"])
        seconds = [(float(c or 0), float(t or 0)) for c, t in pipe.execute()]
        findings = []
        window = seconds[-FAST_WINDOW_SECONDS:]
        slow = short_baseline.slow_seconds(
            seconds[-FAST_WINDOW_SECONDS - short_baseline.HISTORY_SECONDS : -FAST_WINDOW_SECONDS],
            window,
        )
        if slow is not None:
            findings.append(_slow_finding(end, slow))
        cut = len(seconds) - short_baseline.LAG_SECONDS
        drop_window = [c for c, _ in seconds[cut - short_baseline.DROP_WINDOW : cut]]
        history = [c for c, _ in seconds[: cut - short_baseline.DROP_WINDOW]]
        drop = short_baseline.throughput_drop(history, drop_window)
        if drop is not None:
            findings.append(_drop_finding(end - short_baseline.LAG_SECONDS, drop))
        return findings

    def _record(self, findings: list[Finding]) -> list[Anomaly]:
        raised = []
        for finding in findings:
            try:
                anomaly = self.recorder.raise_if_not_cooling(finding)
            except Exception:
                # Never fail the batch for this: the mesh would retry it and count it twice.
                # The cooldown was released, so the next batch of the burst tries again.
                logger.exception("could not record a fast-path anomaly")
                continue
            if anomaly is not None:
                raised.append(anomaly)
        return raised

    def _counters(self, end: int) -> tuple[dict[str, Any], dict[str, float], float]:
        """Sums over the fast window, and over the baseline minutes before it (cached briefly:
        closed minutes barely change, and re-reading them for every batch was the hot path's
        largest cost). The window also keeps each second's API latency as ``per_second``."""
        start = end - FAST_WINDOW_SECONDS + 1
        fields = ["imports.failed", "api.count", "api.errors", "api.sum"]
        pipe = self.client.pipeline(transaction=False)
        for second in range(start, end + 1):
            pipe.hmget(store.second_key(second), fields)
        window: dict[str, Any] = defaultdict(float)
        per_second = []
        for values in pipe.execute():
            numbers = [float(value or 0) for value in values]
            for name, number in zip(fields, numbers, strict=True):
                window[name] += number
            per_second.append((numbers[1], numbers[3]))  # (requests, latency sum)
        window["per_second"] = per_second
        baseline, seconds = self._baseline(start // store.MINUTE)
        return window, baseline, seconds

    def _baseline(self, first_minute: int) -> tuple[dict[str, float], float]:
        cached = self._baseline_cache
        if cached and cached[0] == first_minute and time.monotonic() - cached[1] < BASELINE_TTL:
            return cached[2], cached[3]
        pipe = self.client.pipeline(transaction=False)
        for minute in range(first_minute - BASELINE_MINUTES, first_minute):
            pipe.hget(store.minute_key(minute, "core"), "imports.failed")
            pipe.hmget(store.minute_key(minute, "api"), ["count", "errors", "sum"])
            pipe.exists(store.groups_key(minute))
        replies = pipe.execute()
        baseline: dict[str, float] = defaultdict(float)
        observed_minutes = 0
        for failed, api, exists in zip(replies[0::3], replies[1::3], replies[2::3], strict=True):
            observed_minutes += int(bool(exists))
            baseline["imports.failed"] += float(failed or 0)
            for name, value in zip(("api.count", "api.errors", "api.sum"), api, strict=True):
                baseline[name] += float(value or 0)
        seconds = float(observed_minutes * store.MINUTE)
        self._baseline_cache = (first_minute, time.monotonic(), baseline, seconds)
        return baseline, seconds

    def _rearm_quiet_series(self, window: Mapping[str, Any], baseline: Mapping[str, float]) -> None:
        """End a fast-path cooldown early once its series is back to normal: the cooldown
        makes one burst one anomaly, but the next incident, a minute later, must be seen."""
        quiet = [rule.series for rule in BURST_RULES if window[rule.count_field] < rule.min_count]
        if window["api.count"] >= LATENCY_MIN_WINDOW and baseline["api.count"] > 0:
            mean_before = baseline["api.sum"] / baseline["api.count"]
            if window["api.sum"] / window["api.count"] < SUSTAINED_RATIO * mean_before:
                quiet.append(LATENCY_SERIES)
        if not quiet:
            return
        keys = [store.cooldown_key(series) for series in quiet]
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.get(key)
            pipe.ttl(key)
        replies = pipe.execute()
        stale = [
            key
            for key, detector, ttl in zip(keys, replies[0::2], replies[1::2], strict=True)
            # Only the fast path's own cooldowns, and only after REARM_AFTER_SECONDS.
            if detector == AnomalyDetector.BURST.encode()
            and 0 <= ttl <= COOLDOWN_SECONDS - REARM_AFTER_SECONDS
        ]
        if stale:
            self.client.delete(*stale)
