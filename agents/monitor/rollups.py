"""The one object the agent shell holds: writer, fast path and finaliser over shared Redis."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import redis

from agents.events import Event
from agents.models import Anomaly
from agents.monitor.fast_path import FastPath
from agents.monitor.finaliser import Finaliser
from agents.monitor.recording import AnomalyRecorder
from agents.monitor.series import SeriesValues
from agents.monitor.writer import RollupWriter


class Rollups:
    """Minute rollups of the bookmark manager's events, and the anomalies found in them.

    ``clock`` (epoch seconds) decides which minutes are closed; tests inject their own to
    replay hours in seconds. Anomalies are stored, sighted in the knowledge graph and
    announced (``anomaly.detected``, after commit) by
    :func:`agents.monitor.recording.record_anomaly`.
    """

    def __init__(
        self,
        client: redis.Redis | None = None,
        *,
        clock: Callable[[], float] = time.time,
        source: str = "aiops",
        instance: str = "bookmark-monitor",
    ) -> None:
        recorder = AnomalyRecorder(client, source=source, instance=instance)
        self.writer = RollupWriter(client)
        self.fast_path = FastPath(recorder, client)
        self.finaliser = Finaliser(recorder, client, clock=clock)

    def ingest(self, events: Iterable[Event | Mapping[str, Any]]) -> list[Anomaly]:
        """Add a batch to the minute rollups, then run the fast path; returns anomalies raised."""
        batch = self.writer.fold(events)
        if not batch.pending:
            return []
        self.writer.write(batch)
        return self.fast_path.check(batch)

    def finalise(self, now: float | None = None) -> list[int]:
        """Store every closed minute as metric points and run detection; returns the minutes."""
        minutes = self.finaliser.finalise(now)
        # Silence is a symptom too (a hang stops requests finishing): judged on the tick.
        self.fast_path.check_quiet(self.finaliser.clock() if now is None else now)
        return minutes

    def pending_minutes(self) -> list[int]:
        return self.finaliser.pending_minutes()

    def minute_values(self, minute: int) -> SeriesValues:
        """Series name -> (value, kind, unit, samples) for one minute, from the Redis hashes."""
        return self.finaliser.minute_values(minute)
