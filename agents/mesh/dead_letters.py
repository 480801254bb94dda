"""The dead-letter stream: what failed too often, and putting it back."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import redis
from django.conf import settings

from agents.events import Event
from agents.mesh.publishing import entry_fields
from agents.mesh.wire import DEAD_LETTER_STREAM, EVENT_FIELD
from core.redis import get_redis

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeadLetter:
    entry_id: str
    stream: str
    group: str
    error: str
    failures: int
    dead_at: str
    event: Event | None


def dead_letters(limit: int = 100, *, client: redis.Redis | None = None) -> list[DeadLetter]:
    client = client or get_redis()
    letters = []
    for entry_id, fields in client.xrange(DEAD_LETTER_STREAM, count=limit):
        decoded = {k.decode(): v.decode() for k, v in fields.items()}
        raw = decoded.get(EVENT_FIELD)
        letters.append(
            DeadLetter(
                entry_id=entry_id.decode(),
                stream=decoded["stream"],
                group=decoded["group"],
                error=decoded["error"],
                failures=int(decoded.get("failures", 0)),
                dead_at=decoded["dead_at"],
                event=Event.from_json(raw) if raw else None,
            )
        )
    return letters


def redrive_dead_letters(
    limit: int = 100, *, group: str | None = None, client: redis.Redis | None = None
) -> int:
    """Publish dead-lettered events again (same event ids) and drop them from ``events:dead``.

    Groups that had handled an event skip it again (done set); the group that failed retries.
    """
    client = client or get_redis()
    moved = 0
    for letter in dead_letters(limit, client=client):
        if letter.event is None or (group and letter.group != group):
            continue
        pipe = client.pipeline(transaction=True)
        pipe.xadd(
            letter.stream,
            entry_fields(letter.event),
            maxlen=settings.EVENT_STREAM_MAXLEN,
            approximate=True,
        )
        pipe.xdel(DEAD_LETTER_STREAM, letter.entry_id)
        pipe.execute()
        moved += 1
    return moved
