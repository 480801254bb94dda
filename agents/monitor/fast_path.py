"""The fast path: bursts and latency jumps seen within seconds, not at the next minute.

Minute rollups cannot see a fault in under a second, so each batch's per-second counters are
tested over the last ``FAST_WINDOW_SECONDS`` against the rate of the previous
``BASELINE_MINUTES`` (a Poisson tail for counts, a ratio for mean latency), with minimum
counts. The per-series cooldown of :mod:`agents.monitor.recording` turns a burst into one
anomaly; it is re-armed early once the series is quiet again.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import redis

from agents.models import Anomaly, AnomalyDetector
from agents.monitor import short_baseline, store
from agents.monitor.fast_checks import (  # noqa: F401  (re-exported: the fast path's names)
    BASELINE_MINUTES,
    BURST_RULES,
    FAST_WINDOW_SECONDS,
    LATENCY_MIN_WINDOW,
    LATENCY_RATIO,
    LATENCY_SERIES,
    SUSTAINED_RATIO,
    SUSTAINED_SECONDS,
    check_burst,
    check_latency,
    drop_finding,
    passing,
    slow_finding,
)
from agents.monitor.recording import COOLDOWN_SECONDS, AnomalyRecorder, Finding
from agents.monitor.writer import Batch

logger = logging.getLogger(__name__)

#: A fast-path cooldown ends this long after its anomaly once the series is normal again.
REARM_AFTER_SECONDS = 30
LATENCY_CHECK_SECONDS = 1.0
BASELINE_TTL = 5.0


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
            jump = check_latency(end, window, baseline)
            findings += self.short_checks(end, [jump] if jump else [])
            self._rearm_quiet_series(window, baseline)
        return self._record([replace(f, service=f.service or self._service) for f in findings])

    def check_quiet(self, now: float) -> list[Anomaly]:
        """The seconds-level checks with no batch to start them (from the agent's tick): when
        requests hang, no events arrive, and silence is itself the symptom."""
        findings = self.short_checks(int(now))
        return self._record([replace(f, service=f.service or self._service) for f in findings])

    def short_checks(self, end: int, latency: list[Finding] | None = None) -> list[Finding]:
        """Slow seconds and a throughput drop against the per-second history (no warm-up).
        Latency findings (these and the jump check's, passed in) that are too brief or that
        load explains are dropped: see :func:`agents.monitor.fast_checks.passing`."""
        span = short_baseline.HISTORY_SECONDS + short_baseline.DROP_WINDOW
        first = end - span - short_baseline.LAG_SECONDS + 1
        pipe = self.client.pipeline(transaction=False)
        for second in range(first, end + 1):
            pipe.hmget(store.second_key(second), ["api.count", "api.sum", "api.errors"])
        seconds = [(float(c or 0), float(t or 0), float(e or 0)) for c, t, e in pipe.execute()]
        latencies = [(c, t) for c, t, _ in seconds]
        findings = list(latency or [])
        slow = short_baseline.slow_seconds(
            latencies[-FAST_WINDOW_SECONDS - short_baseline.HISTORY_SECONDS : -FAST_WINDOW_SECONDS],
            latencies[-FAST_WINDOW_SECONDS:],
        )
        if slow is not None:
            findings.append(slow_finding(end, slow))
        counts = [c for c, _, _ in seconds]
        findings = passing(
            findings, seconds, short_baseline.usual_rate(counts[:-FAST_WINDOW_SECONDS])
        )
        cut = len(seconds) - short_baseline.LAG_SECONDS
        drop = short_baseline.throughput_drop(
            counts[: cut - short_baseline.DROP_WINDOW],
            counts[cut - short_baseline.DROP_WINDOW : cut],
        )
        if drop is not None:
            findings.append(drop_finding(end - short_baseline.LAG_SECONDS, drop))
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
