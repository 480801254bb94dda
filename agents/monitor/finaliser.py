"""Finalising closed minutes into MetricPoint rows, exactly once, in order, under a lease.

A tick finalises minutes older than a minute plus ``GRACE_SECONDS``. One worker at a time
holds the lease (so the detectors see minutes in order); a minute leaves the pending set
only if no event arrived for it meanwhile (a compare-and-delete on its version), so a late
event re-finalises its minute (the point is upserted) instead of being lost.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping

import redis

from agents.models import MetricPoint, MetricSeries
from agents.monitor import store
from agents.monitor.judging import MinuteJudge
from agents.monitor.recording import AnomalyRecorder, utc
from agents.monitor.series import SeriesValues, minute_series

logger = logging.getLogger(__name__)

#: A minute is final this long after it ended (events in flight, clock skew between hosts).
GRACE_SECONDS = 5


class Finaliser(store.RedisBacked):
    """Stores closed minutes as metric points, has them judged, records what is found."""

    def __init__(
        self,
        recorder: AnomalyRecorder,
        client: redis.Redis | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(client)
        self.recorder = recorder
        self.clock = clock
        self.judge = MinuteJudge(client)
        self._series_ids: dict[str, int] = {}

    def pending_minutes(self) -> list[int]:
        return store.pending_minutes(self.client)

    def finalise(self, now: float | None = None) -> list[int]:
        """Store every closed minute as metric points and run detection; returns the minutes.

        Safe to call from every worker at once: one holds the lease and does the work.
        """
        now = self.clock() if now is None else now
        client = self.client
        closed = [
            m for m in self.pending_minutes() if (m + 1) * store.MINUTE + GRACE_SECONDS <= now
        ]
        if not closed:
            return []
        lease = store.FinaliseLease(client)
        if not lease.acquire():
            return []
        done = []
        try:
            for minute in closed:
                version = client.hget(store.PENDING_KEY, str(minute))
                if version is None:  # finalised by the previous lease holder meanwhile
                    continue
                self._finalise_minute(minute)
                store.clear_pending(client, minute, version)
                done.append(minute)
                if not lease.extend():
                    logger.warning("finalisation lease lost", extra={"minute": minute})
                    break
        finally:
            lease.release()
        return done

    def minute_values(self, minute: int) -> SeriesValues:
        """Series name -> (value, kind, unit, samples) for one minute, from the Redis hashes."""
        data, active_users = store.read_minute(self.client, minute)
        return minute_series(data, active_users)

    def _finalise_minute(self, minute: int) -> None:
        values = self.minute_values(minute)
        at = utc(minute * store.MINUTE)
        ids = self._ensure_series(
            {name: (kind, unit) for name, (_, kind, unit, _) in values.items()}
        )
        MetricPoint.objects.bulk_create(
            [MetricPoint(series_id=ids[name], minute=at, value=v[0]) for name, v in values.items()],
            update_conflicts=True,
            unique_fields=["series", "minute"],
            update_fields=["value"],
        )
        findings, states = self.judge.detect(minute, values)
        for finding in findings:
            self.recorder.raise_if_not_cooling(finding)
        # Saved last: if recording failed, the minute is retried and judged again.
        self.judge.save(states)

    def _ensure_series(self, wanted: Mapping[str, tuple[str, str]]) -> dict[str, int]:
        missing = [name for name in wanted if name not in self._series_ids]
        if missing:
            MetricSeries.objects.bulk_create(
                [MetricSeries(name=n, kind=wanted[n][0], unit=wanted[n][1]) for n in missing],
                ignore_conflicts=True,
            )
            found = MetricSeries.objects.filter(name__in=missing).values_list("name", "pk")
            self._series_ids.update(dict(found))
        return self._series_ids
