"""Turning a finding into an Anomaly: stored, sighted in the knowledge graph, announced.

Both detectors (the fast path and the minute judge) hand over a :class:`Finding`; a
per-series cooldown shared by both and by every worker turns a burst into one anomaly.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis
from django.db import transaction

from agents import mesh
from agents.events import Event, system_event
from agents.models import Anomaly
from agents.monitor.series import category_for, problem_message, severity_for
from agents.monitor.store import RedisBacked, cooldown_key
from agents.system_events import AnomalyDetected
from knowledge.services import record_sighting

logger = logging.getLogger(__name__)

#: After an anomaly, its series raises no other for this long (unless the fast path re-arms).
COOLDOWN_SECONDS = 300


@dataclass(frozen=True)
class Finding:
    """Something anomalous, before it is recorded: what the Anomaly row and event will say."""

    series: str
    detector: str
    score: float
    value: float
    window_start: datetime
    window_end: datetime
    expected: float | None = None
    expected_low: float | None = None
    expected_high: float | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    event_ids: tuple[str, ...] = ()
    service: str = ""


def utc(seconds: float) -> datetime:
    """An epoch second as an aware UTC datetime (the windows findings are stamped with)."""
    return datetime.fromtimestamp(seconds, UTC)


class AnomalyRecorder(RedisBacked):
    """Records findings under the per-series cooldown, as ``source`` / ``instance``."""

    def __init__(
        self,
        client: redis.Redis | None = None,
        *,
        source: str = "aiops",
        instance: str = "bookmark-monitor",
    ) -> None:
        super().__init__(client)
        self.source = source
        self.instance = instance

    def raise_if_not_cooling(self, finding: Finding) -> Anomaly | None:
        """One anomaly per series per cooldown, across workers and both detectors."""
        cooldown = cooldown_key(finding.series)
        if not self.client.set(cooldown, finding.detector, nx=True, ex=COOLDOWN_SECONDS):
            return None
        try:
            return record_anomaly(finding, source=self.source, instance=self.instance)
        except Exception:
            self.client.delete(cooldown)  # let the next batch try again
            raise


def record_anomaly(finding: Finding, *, source: str = "aiops", instance: str = "") -> Anomaly:
    """Store the Anomaly and its Problem sighting in one transaction; announce it on commit."""

    category = category_for(finding.series)
    severity = severity_for(category, finding.score)
    with transaction.atomic():
        anomaly, created = Anomaly.objects.get_or_create(
            series=finding.series,
            detector=finding.detector,
            window_start=finding.window_start,
            defaults={
                "category": category,
                "severity": severity,
                "score": finding.score,
                "value": finding.value,
                "expected": finding.expected,
                "expected_low": finding.expected_low,
                "expected_high": finding.expected_high,
                "window_end": finding.window_end,
                # The Anomaly row has no service column: the service rides in its evidence.
                "evidence": {**finding.evidence, "service": finding.service}
                if finding.service
                else finding.evidence,
            },
        )
        if not created:
            return anomaly
        problem = record_sighting(
            problem_message(finding.series),
            count=1,  # the anomaly row makes this once; its evidence ids may recur
            service=finding.service,
            instance=instance,
            event_ids=finding.event_ids,
            at=finding.window_end,
            category=category,
            severity=severity,
        )
        anomaly.problem = problem
        anomaly.save(update_fields=["problem"])
        mesh.publish_on_commit(anomaly_event(anomaly, source=source, instance=instance))
    logger.warning(
        "anomaly detected",
        extra={"series": finding.series, "score": finding.score, "detector": finding.detector},
    )
    return anomaly


def anomaly_event(anomaly: Anomaly, *, source: str = "aiops", instance: str = "") -> Event:
    detected = AnomalyDetected(
        anomaly_id=anomaly.pk,
        series=anomaly.series,
        detector=anomaly.detector,
        category=anomaly.category,
        score=anomaly.score,
        value=anomaly.value,
        expected=anomaly.expected,
        expected_range=(anomaly.expected_low, anomaly.expected_high),
        window_start=anomaly.window_start,
        window_end=anomaly.window_end,
        evidence=anomaly.evidence,
        problem_id=anomaly.problem_id,
        service=str((anomaly.evidence or {}).get("service", "")),
    )
    return system_event(
        "anomaly.detected", detected, source=source, instance=instance, severity=anomaly.severity
    )
