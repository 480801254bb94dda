"""Retention and replay: trimming streams to the window, reading them back by time."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import redis
from django.conf import settings

from agents.events import stream_name
from agents.mesh.publishing import known_streams
from agents.mesh.wire import DEAD_LETTER_STREAM, Delivery
from core.redis import get_redis

logger = logging.getLogger(__name__)


def trim_streams(
    *, retention: timedelta | None = None, client: redis.Redis | None = None
) -> dict[str, int]:
    """Drop entries older than the retention window from every stream (approximate MINID)."""
    client = client or get_redis()
    retention = retention or timedelta(hours=settings.EVENT_RETENTION_HOURS)
    cutoff_ms = int((datetime.now(UTC) - retention).timestamp() * 1000)
    trimmed = {}
    for stream in [*known_streams(client), DEAD_LETTER_STREAM]:
        trimmed[stream] = client.xtrim(stream, minid=f"{cutoff_ms}-0", approximate=True)
    return trimmed


def stream_id_for(moment: datetime | str) -> str:
    """A stream id for a point in time (``'1700000000000-0'``), or an id given as is."""
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            raise ValueError("replay times must be time-zone aware")
        return f"{int(moment.timestamp() * 1000)}-0"
    return moment


def replay(
    event_type: str,
    since: datetime | str = "-",
    until: datetime | str = "+",
    *,
    chunk: int = 1000,
    client: redis.Redis | None = None,
) -> Iterator[Delivery]:
    """Yield a stream's recorded events from a time or id, oldest first (backfill, backtest)."""
    client = client or get_redis()
    stream = stream_name(event_type)
    start, end = stream_id_for(since), stream_id_for(until)
    while True:
        entries = client.xrange(stream, start, end, count=chunk)
        for entry_id, fields in entries:
            yield Delivery.from_entry(stream, entry_id.decode(), fields)
        if len(entries) < chunk:
            return
        start = "(" + entries[-1][0].decode()


def pending_by_group(client: redis.Redis | None = None) -> dict[tuple[str, str], int]:
    """Entries delivered but not yet acknowledged, per (stream, group): consumer lag."""
    client = client or get_redis()
    result = {}
    for stream in known_streams(client):
        try:
            groups = client.xinfo_groups(stream)
        except redis.ResponseError:
            continue
        for info in groups:
            name = info["name"].decode() if isinstance(info["name"], bytes) else info["name"]
            result[(stream, name)] = int(info["pending"])
    return result
