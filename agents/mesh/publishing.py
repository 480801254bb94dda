"""Publishing: one pipelined XADD per batch, and the one way to announce after commit."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence

import redis
from django.conf import settings
from django.db import transaction

from agents.events import Event, stream_name
from agents.mesh.wire import (
    EVENT_FIELD,
    EVENTS_PUBLISHED,
    ID_FIELD,
    PUBLISH_FAILURES,
    STREAM_INDEX_KEY,
)
from core.redis import get_redis

logger = logging.getLogger(__name__)


def entry_fields(event: Event) -> dict[str, str]:
    # The id travels beside the JSON so dedup and routing never need to decode the event.
    return {ID_FIELD: event.id, EVENT_FIELD: event.to_json_bytes()}


def publish(event: Event, *, client: redis.Redis | None = None) -> str:
    """Append one event to its stream; returns the stream entry id."""
    return publish_many([event], client=client)[0]


def publish_many(events: Sequence[Event], *, client: redis.Redis | None = None) -> list[str]:
    """Append events in one pipelined round trip (no MULTI); returns the entry ids in order."""
    if not events:
        return []
    client = client or get_redis()
    maxlen = settings.EVENT_STREAM_MAXLEN
    pipe = client.pipeline(transaction=False)
    counts: dict[str, int] = defaultdict(int)
    for event in events:
        # execute_command skips redis-py's per-call argument checks: this is the hot path.
        pipe.execute_command(
            "XADD", event.stream, "MAXLEN", "~", maxlen, "*",
            ID_FIELD, event.id, EVENT_FIELD, event.to_json_bytes(),
        )  # fmt: skip
        counts[event.type] += 1
    pipe.sadd(STREAM_INDEX_KEY, *{stream_name(t) for t in counts})
    entry_ids = pipe.execute()[:-1]
    for event_type, count in counts.items():
        EVENTS_PUBLISHED.labels(event_type).inc(count)
    return [entry_id.decode() for entry_id in entry_ids]


def publish_on_commit(event: Event) -> None:
    """Publish once the current transaction commits (at once outside one).

    The one way the system announces what it did. A rolled-back change announces nothing,
    and the rows are the record: a mesh outage after commit is logged and counted in
    ``ai_ops_publish_failures_total``, never raised into work that already succeeded.
    """

    def _publish() -> None:
        try:
            publish(event)
        except Exception:
            PUBLISH_FAILURES.labels(event.type).inc()
            logger.exception("could not publish", extra={"type": event.type, "event": event.id})

    transaction.on_commit(_publish)


def known_streams(client: redis.Redis | None = None) -> list[str]:
    client = client or get_redis()
    return sorted(member.decode() for member in client.smembers(STREAM_INDEX_KEY))
