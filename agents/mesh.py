"""The event mesh on Redis Streams: publish, consume through groups, reclaim, dead-letter, replay.

One stream per event type (``events:<type>``); each agent reads through its own consumer
group. Delivery is at-least-once and handling idempotent in effect:

* an entry is acknowledged only after its handler returned (its effects are stored);
* an event id already handled by a group is skipped (a per-group "done" set, bucketed by the
  hour the ULID was minted in, expiring after the retention window);
* entries left pending by a dead consumer are reclaimed after ``MESH_CLAIM_IDLE_MS``;
* a failing batch is retried event by event, so one poisoned event never blocks the rest;
  an entry delivered ``MESH_MAX_DELIVERIES`` times without success moves to ``events:dead``
  with its last error, and :func:`redrive_dead_letters` puts it back;
* a batch that fails because a store is down (PostgreSQL or Redis unreachable, see
  :func:`is_outage`) is not the events' fault: nothing is counted against them, the
  consumer stops taking new entries (:class:`BackendUnavailable`) and, once its ``ready``
  probe answers, re-reads its own pending entries in whole batches, so a backlog drains at
  normal throughput instead of through the idle-claim path a batch every few seconds.

Handlers that write to PostgreSQL should also key their effects by event id (a unique
constraint): the done set makes redelivery rare, the constraint makes it harmless.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property

import redis
from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from prometheus_client import Counter, Histogram

from agents.events import Event, stream_name
from core.redis import get_redis

logger = logging.getLogger(__name__)

DEAD_LETTER_STREAM = "events:dead"
STREAM_PREFIX = "events:"
STREAM_INDEX_KEY = "aiops:streams"  # set of every events:<type> stream ever written
EVENT_FIELD = "e"
ID_FIELD = "id"
_EVENT_KEY = EVENT_FIELD.encode()
_ID_KEY = ID_FIELD.encode()
DONE_BUCKET_PREFIX = 5
DONE_BUCKET_SECONDS = 2**23 // 1000

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


# --- Publishing ---------------------------------------------------------------------------


def _entry_fields(event: Event) -> dict[str, str]:
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


# --- Consuming ----------------------------------------------------------------------------


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
        return cls(stream, entry_id, event_id.decode(), raw, redelivered)


BatchHandler = Callable[[list[Delivery]], None]


def default_consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def _done_key(group: str, event_id: str) -> str:
    """The dedup set an event id belongs to: one set per ~2.3 hours of ULID time.

    A ULID's first five characters are the top 25 bits of its millisecond timestamp, so
    equal prefixes mean "minted in the same 2^23 ms window"; every set expires after the
    retention window. Ids that are not ULIDs still map deterministically to one set.
    """
    return f"aiops:done:{group}:{event_id[:DONE_BUCKET_PREFIX]}"


def _failures_key(group: str) -> str:
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


class StreamConsumer:
    """A member of one consumer group reading one or more streams.

    Call :meth:`poll` in a loop (or :meth:`run` until a stop flag): each call reclaims
    abandoned entries, reads new ones, hands them to the handler in one batch and
    acknowledges what was handled. Returns how many entries were handled.
    """

    def __init__(
        self,
        group: str,
        streams: Iterable[str],
        handler: BatchHandler,
        *,
        consumer: str | None = None,
        batch_size: int | None = None,
        claim_idle_ms: int | None = None,
        max_deliveries: int | None = None,
        client: redis.Redis | None = None,
        ready: Callable[[], bool] | None = None,
    ) -> None:
        self.group = group
        self.ready = ready or (lambda: True)
        self._replaying = False  # an outage left entries pending here: re-read them first
        self._reclaim_again = False
        self.streams = list(streams)
        self.handler = handler
        self.consumer = consumer or default_consumer_name()
        self.batch_size = batch_size or settings.MESH_BATCH_SIZE
        self.claim_idle_ms = claim_idle_ms or settings.MESH_CLAIM_IDLE_MS
        self.max_deliveries = max_deliveries or settings.MESH_MAX_DELIVERIES
        self.client = client or get_redis()
        self._last_reclaim = 0.0
        self.ensure_groups()

    def ensure_groups(self) -> None:
        """Create the group on each stream (from its start, so nothing published is missed)."""
        for stream in self.streams:
            try:
                self.client.xgroup_create(stream, self.group, id="0", mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    # The loop ----------------------------------------------------------------------------

    def run(self, should_stop: Callable[[], bool], *, block_ms: int = 1000) -> int:
        handled = 0
        while not should_stop():
            handled += self.poll(block_ms=block_ms)
        return handled

    def poll(self, *, block_ms: int = 1000) -> int:
        handled = self._replay_own_pending() if self._replaying else 0
        if self._replaying:
            return handled
        now = time.monotonic()
        if self._reclaim_again or now - self._last_reclaim >= self.claim_idle_ms / 1000 / 2:
            self._last_reclaim = now
            handled += self.reclaim()
        response = self.client.xreadgroup(
            self.group,
            self.consumer,
            {stream: ">" for stream in self.streams},
            count=self.batch_size,
            block=block_ms or None,
        )
        entries = [
            (stream.decode(), entry_id.decode(), fields)
            for stream, messages in response or []
            for entry_id, fields in messages
            if fields  # an entry trimmed away while pending comes back empty
        ]
        handled += self._handle_entries(entries)
        return handled

    def _replay_own_pending(self) -> int:
        """After an outage: this consumer's pending entries, a batch at a time, oldest first."""
        if not self.ready():
            raise BackendUnavailable(f"{self.group}: still waiting for the store to come back")
        response = self.client.xreadgroup(
            self.group, self.consumer, dict.fromkeys(self.streams, "0"), count=self.batch_size
        )
        entries, trimmed = [], defaultdict(list)
        for stream, messages in response or []:
            for entry_id, fields in messages:
                if fields:
                    entries.append((stream.decode(), entry_id.decode(), fields))
                else:  # trimmed while pending: nothing left to handle
                    trimmed[stream.decode()].append(entry_id)
        for stream, ids in trimmed.items():
            self.client.xack(stream, self.group, *ids)
        if not entries and not trimmed:
            self._replaying = False  # caught up: back to new entries
            logger.info("caught up after an outage", extra={"group": self.group})
        return self._handle_entries(entries, redelivered=True)

    def reclaim(self) -> int:
        """Take over entries idle longer than the claim timeout (their consumer died or failed).

        Entries already delivered ``max_deliveries`` times go to the dead-letter stream.
        """
        handled = 0
        self._reclaim_again = False
        for stream in self.streams:
            pending = self.client.xpending_range(
                stream, self.group, min="-", max="+", count=self.batch_size, idle=self.claim_idle_ms
            )
            if not pending:
                continue
            # A full page means more are waiting (a dead consumer's backlog): next poll too.
            self._reclaim_again = self._reclaim_again or len(pending) == self.batch_size
            exhausted = [
                p["message_id"] for p in pending if p["times_delivered"] >= self.max_deliveries
            ]
            retry = [p["message_id"] for p in pending if p["times_delivered"] < self.max_deliveries]
            if exhausted:
                self._dead_letter_ids(stream, exhausted)
            if retry:
                claimed = self.client.xclaim(
                    stream, self.group, self.consumer, self.claim_idle_ms, retry
                )
                entries = [(stream, eid.decode(), fields) for eid, fields in claimed if fields]
                missing = {m.decode() for m in retry} - {e[1] for e in entries}
                if missing:  # trimmed while pending: nothing left to handle
                    self.client.xack(stream, self.group, *missing)
                handled += self._handle_entries(entries, redelivered=True)
        return handled

    # Handling ----------------------------------------------------------------------------

    def _handle_entries(
        self, entries: list[tuple[str, str, dict]], redelivered: bool = False
    ) -> int:
        if not entries:
            return 0
        deliveries = [Delivery.from_entry(*entry, redelivered=redelivered) for entry in entries]
        fresh, duplicates = self._split_done(deliveries)
        if duplicates:
            self._ack(duplicates)
        if not fresh:
            return 0
        try:
            with HANDLER_SECONDS.labels(self.group).time():
                self.handler(fresh)
        except Exception as exc:
            if is_outage(exc):
                self._outage(exc)
            logger.warning(
                "batch failed; retrying event by event",
                extra={"group": self.group, "size": len(fresh)},
                exc_info=True,
            )
            return self._handle_one_by_one(fresh)
        self._complete(fresh)
        return len(fresh)

    def _handle_one_by_one(self, deliveries: list[Delivery]) -> int:
        handled = []
        for delivery in deliveries:
            try:
                self.handler([delivery])
            except Exception as exc:
                if is_outage(exc):
                    self._complete(handled)
                    self._outage(exc)
                self._record_failure(delivery, exc)
            else:
                handled.append(delivery)
        self._complete(handled)
        return len(handled)

    def _outage(self, exc: Exception) -> None:
        """Keep the entries pending here, uncounted, and re-read them once the store is back."""
        self._replaying = True
        raise BackendUnavailable(f"{self.group}: {type(exc).__name__}: {exc}"[:500]) from exc

    def _record_failure(self, delivery: Delivery, exc: Exception) -> None:
        """Leave the entry pending for a later retry; dead-letter it when retries are spent."""
        error = f"{type(exc).__name__}: {exc}"[:2000]
        key = _failures_key(self.group)
        field = f"{delivery.stream}|{delivery.entry_id}"
        pipe = self.client.pipeline(transaction=False)
        pipe.hset(f"{key}:errors", field, error)
        pipe.hincrby(key, field, 1)
        failures = pipe.execute()[1]
        logger.warning(
            "handler failed",
            extra={
                "group": self.group,
                "event_id": delivery.event_id,
                "type": delivery.event.type,
                "failures": failures,
                "error": error,
            },
        )
        if failures >= self.max_deliveries:
            self._dead_letter(delivery.stream, [(delivery.entry_id, delivery.raw.decode())])

    def _split_done(self, deliveries: list[Delivery]) -> tuple[list[Delivery], list[Delivery]]:
        by_key: dict[str, list[Delivery]] = defaultdict(list)
        for delivery in deliveries:
            by_key[_done_key(self.group, delivery.event_id)].append(delivery)
        pipe = self.client.pipeline(transaction=False)
        for key, items in by_key.items():
            pipe.smismember(key, [d.event_id for d in items])
        done_ids: set[str] = set()
        for (_, items), flags in zip(by_key.items(), pipe.execute(), strict=True):
            done_ids.update(d.event_id for d, flag in zip(items, flags, strict=True) if flag)
        fresh, duplicates, seen = [], [], set()
        for delivery in deliveries:
            if delivery.event_id in done_ids or delivery.event_id in seen:
                duplicates.append(delivery)
            else:
                seen.add(delivery.event_id)
                fresh.append(delivery)
        return fresh, duplicates

    def _complete(self, deliveries: list[Delivery]) -> None:
        """Mark handled events done, then acknowledge them, in one round trip."""
        if not deliveries:
            return
        ttl = int(timedelta(hours=settings.EVENT_RETENTION_HOURS).total_seconds())
        ttl += DONE_BUCKET_SECONDS
        by_key: dict[str, list[str]] = defaultdict(list)
        for delivery in deliveries:
            by_key[_done_key(self.group, delivery.event_id)].append(delivery.event_id)
        pipe = self.client.pipeline(transaction=False)
        for key, ids in by_key.items():
            pipe.sadd(key, *ids)
            pipe.expire(key, ttl)
        self._queue_acks(pipe, deliveries)
        pipe.execute()
        counts: dict[str, int] = defaultdict(int)
        for delivery in deliveries:
            counts[delivery.stream.removeprefix(STREAM_PREFIX)] += 1
        for event_type, count in counts.items():
            EVENTS_PROCESSED.labels(self.group, event_type).inc(count)

    def _ack(self, deliveries: list[Delivery]) -> None:
        pipe = self.client.pipeline(transaction=False)
        self._queue_acks(pipe, deliveries)
        pipe.execute()

    def _queue_acks(self, pipe: redis.client.Pipeline, deliveries: list[Delivery]) -> None:
        by_stream: dict[str, list[str]] = defaultdict(list)
        for delivery in deliveries:
            by_stream[delivery.stream].append(delivery.entry_id)
        for stream, ids in by_stream.items():
            pipe.xack(stream, self.group, *ids)
        # Only a redelivered entry can have failure records to clear.
        fields = [f"{d.stream}|{d.entry_id}" for d in deliveries if d.redelivered]
        if fields:
            failures = _failures_key(self.group)
            pipe.hdel(failures, *fields)
            pipe.hdel(f"{failures}:errors", *fields)

    # Dead letters --------------------------------------------------------------------------

    def _dead_letter_ids(self, stream: str, entry_ids: list[bytes]) -> None:
        entries = []
        for entry_id in entry_ids:
            found = self.client.xrange(stream, entry_id, entry_id)
            raw = found[0][1].get(EVENT_FIELD.encode(), b"") if found else b""
            entries.append((entry_id.decode(), raw.decode()))
        self._dead_letter(stream, entries)

    def _dead_letter(self, stream: str, entries: list[tuple[str, str]]) -> None:
        failures = _failures_key(self.group)
        fields = [f"{stream}|{entry_id}" for entry_id, _ in entries]
        errors = self.client.hmget(f"{failures}:errors", fields)
        counts = self.client.hmget(failures, fields)
        pipe = self.client.pipeline(transaction=True)
        for (entry_id, raw), error, count in zip(entries, errors, counts, strict=True):
            pipe.xadd(
                DEAD_LETTER_STREAM,
                {
                    EVENT_FIELD: raw,
                    "stream": stream,
                    "entry_id": entry_id,
                    "group": self.group,
                    "error": (error or b"delivered too often without an acknowledgement").decode(),
                    "failures": int(count or 0),
                    "dead_at": datetime.now(UTC).isoformat(),
                },
            )
            pipe.xack(stream, self.group, entry_id)
        pipe.hdel(failures, *fields)
        pipe.hdel(f"{failures}:errors", *fields)
        pipe.execute()
        DEAD_LETTERS.labels(self.group).inc(len(entries))
        logger.error(
            "events dead-lettered",
            extra={"group": self.group, "stream": stream, "count": len(entries)},
        )


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
            _entry_fields(letter.event),
            maxlen=settings.EVENT_STREAM_MAXLEN,
            approximate=True,
        )
        pipe.xdel(DEAD_LETTER_STREAM, letter.entry_id)
        pipe.execute()
        moved += 1
    return moved


# --- Retention and replay -------------------------------------------------------------------


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
