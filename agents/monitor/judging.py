"""Judging finalised minutes: each series' streaming detector, then an expected range.

Each series has its own :class:`~agents.monitor.detector.StreamingDetector` (the detector
scored on NAB), its state kept in Redis beside the last minute it saw and the recent points,
so any worker holding the finalisation lease carries on where the last one stopped.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

from agents.models import AnomalyDetector, MetricKind
from agents.monitor import store
from agents.monitor.detector import ALERT_SCORE, StreamingDetector
from agents.monitor.recording import Finding, utc
from agents.monitor.series import min_samples

#: Minute detection: recent points kept for the expected range and as evidence.
RECENT_POINTS = 60
EVIDENCE_POINTS = 15
#: History (points) the expected range needs before any minute anomaly is raised.
MIN_RECENT_POINTS = 20
#: Expected range half-width, in robust standard deviations around the recent median.
RANGE_SIGMAS = 4.0


def expected_range(kind: str, recent: list[list[float]]) -> tuple[float, float, float] | None:
    """(median, low, high) of the recent points: robust, with a floor on the spread.

    The detector alone is tuned for NAB's long series; this second condition keeps a small
    count (2 failures instead of 0) from paging anybody.
    """
    if len(recent) < MIN_RECENT_POINTS:
        return None
    points = sorted(v for _, v in recent)
    median = points[len(points) // 2]
    mad = sorted(abs(v - median) for v in points)[len(points) // 2]
    sigma = 1.4826 * mad
    if kind == MetricKind.COUNT:
        sigma = max(sigma, math.sqrt(max(median, 1.0)))  # Poisson noise at least
    else:
        sigma = max(sigma, 0.05 * abs(median), 1e-3 if kind == MetricKind.RATIO else 0.1)
    return median, median - RANGE_SIGMAS * sigma, median + RANGE_SIGMAS * sigma


def judge(
    name: str, kind: str, minute: int, value: float, score: float, recent: list
) -> Finding | None:
    """A finding when the detector alarms and the value is outside the expected range too."""
    if score < ALERT_SCORE:
        return None
    expected = expected_range(kind, recent)
    if expected is None or expected[1] <= value <= expected[2]:
        return None
    median, low, high = expected
    evidence = [
        {"minute": utc(m * store.MINUTE).isoformat(), "value": v}
        for m, v in recent[-EVIDENCE_POINTS:]
    ]
    evidence.append({"minute": utc(minute * store.MINUTE).isoformat(), "value": value})
    return Finding(
        series=name,
        detector=AnomalyDetector.MINUTE,
        score=score,
        value=value,
        window_start=utc(minute * store.MINUTE),
        window_end=utc((minute + 1) * store.MINUTE),
        expected=median,
        expected_low=low,
        expected_high=high,
        evidence={"points": evidence},
    )


class MinuteJudge(store.RedisBacked):
    """Feeds each series' detector its minute, once, and judges the result."""

    def detect(
        self, minute: int, values: Mapping[str, tuple[float, str, str, float]]
    ) -> tuple[list[Finding], dict[str, str]]:
        """Feed each series' detector its point (once per minute): findings and new states."""
        names = sorted(values)
        states = self.client.hmget(store.DETECTORS_KEY, names)
        updated: dict[str, str] = {}
        findings = []
        for name, raw in zip(names, states, strict=True):
            value, kind, _, samples = values[name]
            state = json.loads(raw) if raw else None
            if state is not None and state["last"] >= minute:
                continue  # re-finalised after a late event: the detector already saw it
            detector = (
                StreamingDetector.from_state(state["detector"]) if state else StreamingDetector()
            )
            recent = state["recent"] if state else []
            if samples < min_samples(name, kind):
                # Too few samples to judge; the state advances to keep minutes in order.
                updated[name] = json.dumps({"detector": detector.to_state(), "last": minute,
                                            "recent": recent})  # fmt: skip
                continue
            score = detector.update(value, utc(minute * store.MINUTE))
            finding = judge(name, kind, minute, value, score, recent)
            if finding is not None:
                findings.append(finding)
            recent = [*recent, [minute, value]][-RECENT_POINTS:]
            updated[name] = json.dumps(
                {"detector": detector.to_state(), "last": minute, "recent": recent}
            )
        return findings, updated

    def save(self, states: Mapping[str, str]) -> None:
        """Store the detectors' new states (after the findings were recorded)."""
        if states:
            self.client.hset(store.DETECTORS_KEY, mapping=dict(states))
