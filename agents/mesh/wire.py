"""The mesh's wire format and vocabulary: stream and field names, deliveries, metrics,
and what counts as a store outage."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import redis
from django.db import InterfaceError, OperationalError
from prometheus_client import Counter, Histogram

from agents.events import Event

logger = logging.getLogger(__name__)


DEAD_LETTER_STREAM = "events:dead"
STREAM_PREFIX = "events:"
STREAM_INDEX_KEY = "aiops:streams"  # set of every events:<type> stream ever written
EVENT_FIELD = "e"
ID_FIELD = "id"
_EVENT_KEY = EVENT_FIELD.encode()
_ID_KEY = ID_FIELD.encode()
DONE_BUCKET_PREFIX = 5
DONE_BUCKET_SECONDS = 2**25 // 1000  # how long one done set takes ids (~9.3 hours)

EVENTS_PUBLISHED = Counter("ai_ops_events_published", "Events appended to the mesh", ["type"])
PUBLISH_FAILURES = Counter(
    "ai_ops_publish_failures", "Announcements lost to a mesh outage after commit", ["type"]
)
EVENTS_PROCESSED = Counter(
    "ai_ops_events_processed", "Events handled and acknowledged", ["agent", "type"]
)
DEAD_LETTERS = Counter("ai_ops_dead_letters", "Events moved to the dead-letter stream", ["agent"])
HANDLER_SECONDS = Histogram(
    "ai_ops_handler_seconds",
    "Time a handler took for one batch",
    ["agent"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


@dataclass(frozen=True)
class Delivery:
    """One stream entry handed to a handler; the event is decoded on first access."""

    stream: str
    entry_id: str
    event_id: str
    raw: bytes
    redelivered: bool = False  # reclaimed after a failure or a dead consumer

    @cached_property
    def event(self) -> Event:
        return Event.from_json(self.raw)

    @classmethod
    def from_entry(
        cls, stream: str, entry_id: str, fields: dict[bytes, bytes], redelivered: bool = False
    ) -> Delivery:
        raw = fields[_EVENT_KEY]
        event_id = fields.get(_ID_KEY)
        if event_id is None:  # an entry written by hand or by an older publisher
            event_id = Event.from_json(raw).id.encode()
        # A frozen dataclass's __init__ sets each field through object.__setattr__ (about
        # five times the cost of a plain one); one per consumed event adds up, so the hot
        # path fills the instance's __dict__ directly. Handlers still cannot assign fields.
        delivery = object.__new__(cls)
        delivery.__dict__.update(
            stream=stream, entry_id=entry_id, event_id=event_id.decode(), raw=raw,
            redelivered=redelivered,
        )  # fmt: skip
        return delivery

    @classmethod
    def from_stream(cls, stream: str, messages: list[tuple[bytes, dict]]) -> list[Delivery]:
        """One stream's entries from a read, skipping those trimmed away while pending (they
        come back empty). One call a batch and a tight loop: it runs for every event read."""
        deliveries = []
        new = object.__new__
        for entry_id, fields in messages:
            if not fields:
                continue
            event_id = fields.get(_ID_KEY)
            if event_id is None:
                deliveries.append(cls.from_entry(stream, entry_id.decode(), fields))
                continue
            delivery = new(cls)
            attributes = delivery.__dict__  # as in from_entry: no frozen __setattr__ per field
            attributes["stream"] = stream
            attributes["entry_id"] = entry_id.decode()
            attributes["event_id"] = event_id.decode()
            attributes["raw"] = fields[_EVENT_KEY]
            attributes["redelivered"] = False
            deliveries.append(delivery)
        return deliveries


BatchHandler = Callable[[list[Delivery]], None]


def default_consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def is_dead_local_consumer(name: str) -> bool:
    """Whether ``name`` is a :func:`default_consumer_name` of this host whose process is gone.

    A pid that was reused since reads as alive: the entries then wait for the idle claim.
    """
    host, _, pid = name.rpartition("-")
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def done_key(group: str, event_id: str) -> str:
    """The dedup set an event id belongs to: one set per ~9.3 hours of ULID time.

    A ULID's first ten characters are its 48-bit millisecond timestamp in base32 (50 bits,
    the top two zero), so its first five are the timestamp's top 23 bits: equal prefixes
    mean "minted in the same 2^25 ms window"; every set expires after the retention window.
    Ids that are not ULIDs still map deterministically to one set.
    """
    return f"aiops:done:{group}:{event_id[:DONE_BUCKET_PREFIX]}"


def failures_key(group: str) -> str:
    return f"aiops:failures:{group}"


# Errors that say a store is unreachable, not that an event is bad. (OperationalError also
# covers deadlocks and serialization failures: transient too, so retrying the batch is right.)
OUTAGE_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError, InterfaceError, redis.ConnectionError, redis.TimeoutError,
)  # fmt: skip


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is a store being down."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OUTAGE_ERRORS):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class BackendUnavailable(Exception):
    """A store the handler needs is down: the entries stay pending on this consumer and are
    retried as batches once the consumer's ``ready`` probe says the store is back."""
