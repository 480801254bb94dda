"""A consumer group's bookkeeping: done sets, failure counts, acks and dead letters."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import redis
from django.conf import settings
from prometheus_client import Counter

from agents.mesh.wire import (
    DEAD_LETTER_STREAM,
    DEAD_LETTERS,
    DONE_BUCKET_PREFIX,
    DONE_BUCKET_SECONDS,
    EVENT_FIELD,
    EVENTS_PROCESSED,
    STREAM_PREFIX,
    Delivery,
    done_key,
    failures_key,
)

logger = logging.getLogger(__name__)

TTL_RENEW_SECONDS = 60.0
T = TypeVar("T")


class GroupLedger:
    """A consumer group's bookkeeping in Redis: which events are done, how often an entry
    failed, acknowledgements, and the move to the dead-letter stream."""

    def __init__(self, client: redis.Redis, group: str, max_deliveries: int) -> None:
        self.client = client
        self.group = group
        self.max_deliveries = max_deliveries
        self._processed_children: dict[str, Counter] = {}
        self._done_keys: dict[str, str] = {}  # bucket prefix -> done set (few, long-lived)
        self._ttl_renewed: dict[str, float] = {}  # done set -> when this process last renewed
        hours = timedelta(hours=settings.EVENT_RETENTION_HOURS)
        self._done_ttl = int(hours.total_seconds()) + DONE_BUCKET_SECONDS
        # Handled but not yet marked done and acknowledged (see StreamConsumer._read_new).
        self._deferred_done: list[Delivery] = []
        self._deferred_acks: list[Delivery] = []  # duplicates: acknowledged, never handled

    def _by_done_key(self, deliveries: list[Delivery]) -> dict[str, list[str]]:
        """Event ids grouped by the done set they belong to (usually one set a batch)."""
        ids = [delivery.event_id for delivery in deliveries]
        prefixes = {event_id[:DONE_BUCKET_PREFIX] for event_id in ids}
        keys = self._done_keys
        if len(keys) > 64:  # buckets move on every ~9 hours; forget the old ones
            keys.clear()
            self._ttl_renewed.clear()
        if len(prefixes) == 1:  # the usual batch: ids minted within one bucket
            (prefix,) = prefixes
            return {keys.get(prefix) or keys.setdefault(prefix, done_key(self.group, prefix)): ids}
        by_prefix: dict[str, list[str]] = defaultdict(list)
        for event_id in ids:
            by_prefix[event_id[:DONE_BUCKET_PREFIX]].append(event_id)
        return {
            keys.get(prefix) or keys.setdefault(prefix, done_key(self.group, prefix)): grouped
            for prefix, grouped in by_prefix.items()
        }

    def record_failure(self, delivery: Delivery, exc: Exception) -> None:
        """Leave the entry pending for a later retry; dead-letter it when retries are spent."""
        error = f"{type(exc).__name__}: {exc}"[:2000]
        key = failures_key(self.group)
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
            self.dead_letter(delivery.stream, [(delivery.entry_id, delivery.raw.decode())])

    def split_done(self, deliveries: list[Delivery]) -> tuple[list[Delivery], list[Delivery]]:
        by_key = self._by_done_key(deliveries)
        if len(by_key) == 1:  # the usual batch: ids minted within one bucket, no pipeline
            ((key, ids),) = by_key.items()
            answers = [self.client.execute_command("SMISMEMBER", key, *ids)]
        else:
            pipe = self.client.pipeline(transaction=False)
            for key, ids in by_key.items():
                pipe.execute_command("SMISMEMBER", key, *ids)
            answers = pipe.execute()
        done_ids: set[str] = set()
        for ids, flags in zip(by_key.values(), answers, strict=True):
            if any(flags):  # usually none: skip the walk
                done_ids.update(event_id for event_id, flag in zip(ids, flags, strict=True) if flag)
        return _split(deliveries, done_ids)

    def complete(self, deliveries: list[Delivery]) -> None:
        """Mark handled events done, then acknowledge them, in one round trip."""
        if not deliveries:
            return
        pipe = self.client.pipeline(transaction=False)
        acked = self.queue_complete(pipe, deliveries)
        pipe.execute()
        self.count_processed(acked)

    def queue_complete(
        self, pipe: redis.client.Pipeline, deliveries: list[Delivery]
    ) -> dict[str, list[str]]:
        """Queue the mark-done (SADD, EXPIRE now and then) and the acks of handled events."""
        now = time.monotonic()
        for key, ids in self._by_done_key(deliveries).items():
            pipe.execute_command("SADD", key, *ids)
            # The TTL (retention + a bucket's span) is renewed once a minute per set, not
            # every batch: a minute is nothing beside the hours of slack it carries.
            if now - self._ttl_renewed.get(key, -TTL_RENEW_SECONDS) >= TTL_RENEW_SECONDS:
                pipe.execute_command("EXPIRE", key, self._done_ttl)
                self._ttl_renewed[key] = now
        return self.queue_acks(pipe, deliveries)

    def count_processed(self, acked: dict[str, list[str]]) -> None:
        for stream, ids in acked.items():
            self._processed(stream).inc(len(ids))

    # Deferred completion: a batch's bookkeeping rides with the next read --------------------

    @property
    def deferred(self) -> bool:
        return bool(self._deferred_done or self._deferred_acks)

    def defer(self, done: list[Delivery], ack_only: list[Delivery]) -> None:
        """Remember handled events (and duplicates to acknowledge) for the next round trip."""
        self._deferred_done += done
        self._deferred_acks += ack_only

    def after_deferred(self, command: Callable[[Any], T]) -> T:
        """Run ``command`` (the next read) with the deferred mark-done and acks queued in
        front of it, in one round trip; ``command`` gets the client, or that pipeline."""
        if not self.deferred:
            return command(self.client)
        pipe = self.client.pipeline(transaction=False)
        acked = self._queue_deferred(pipe)
        command(pipe)
        # A lost connection raises here and keeps the deferred list for the next try (SADD,
        # EXPIRE and XACK are idempotent); refusals come back as replies, settled below.
        *replies, reply = pipe.execute(raise_on_error=False)
        self._settle_deferred(replies, acked)
        if isinstance(reply, Exception):
            raise reply
        return reply

    def flush(self) -> None:
        """Send the deferred mark-done and acks now (stop, idle, before reclaim or replay)."""
        if not self.deferred:
            return
        pipe = self.client.pipeline(transaction=False)
        acked = self._queue_deferred(pipe)
        self._settle_deferred(pipe.execute(raise_on_error=False), acked)

    def _queue_deferred(self, pipe: redis.client.Pipeline) -> dict[str, list[str]]:
        acked = self.queue_complete(pipe, self._deferred_done) if self._deferred_done else {}
        if self._deferred_acks:
            self.queue_acks(pipe, self._deferred_acks)
        return acked

    def _settle_deferred(self, replies: list, acked: dict[str, list[str]]) -> None:
        """Forget what was sent. A reply that is an error (a command Redis refused, say OOM
        on SADD) is logged, not retried: the handler's work stands; at worst an entry not
        acknowledged is reclaimed later and an id not marked done may be handled again."""
        errors = [reply for reply in replies if isinstance(reply, Exception)]
        if errors:
            logger.error(
                "marking done or acknowledging failed",
                extra={"group": self.group, "events": len(self._deferred_done), "error": errors[0]},
            )
        self._deferred_done, self._deferred_acks = [], []
        self.count_processed(acked)

    def _processed(self, stream: str) -> Counter:
        """The group's processed counter for a stream, looked up once (labels() is a lookup)."""
        child = self._processed_children.get(stream)
        if child is None:
            child = EVENTS_PROCESSED.labels(self.group, stream.removeprefix(STREAM_PREFIX))
            self._processed_children[stream] = child
        return child

    def ack(self, deliveries: list[Delivery]) -> None:
        pipe = self.client.pipeline(transaction=False)
        self.queue_acks(pipe, deliveries)
        pipe.execute()

    def queue_acks(
        self, pipe: redis.client.Pipeline, deliveries: list[Delivery]
    ) -> dict[str, list[str]]:
        """Queue the XACKs (and the clearing of failure records); the entry ids by stream."""
        streams = {delivery.stream for delivery in deliveries}
        if len(streams) == 1:  # the usual batch: one stream
            by_stream = {streams.pop(): [delivery.entry_id for delivery in deliveries]}
        else:
            by_stream = defaultdict(list)
            for delivery in deliveries:
                by_stream[delivery.stream].append(delivery.entry_id)
        for stream, ids in by_stream.items():
            pipe.execute_command("XACK", stream, self.group, *ids)
        # Only a redelivered entry can have failure records to clear.
        fields = [f"{d.stream}|{d.entry_id}" for d in deliveries if d.redelivered]
        if fields:
            failures = failures_key(self.group)
            pipe.hdel(failures, *fields)
            pipe.hdel(f"{failures}:errors", *fields)
        return by_stream

    def dead_letter_ids(self, stream: str, entry_ids: list[bytes]) -> None:
        entries = []
        for entry_id in entry_ids:
            found = self.client.xrange(stream, entry_id, entry_id)
            raw = found[0][1].get(EVENT_FIELD.encode(), b"") if found else b""
            entries.append((entry_id.decode(), raw.decode()))
        self.dead_letter(stream, entries)

    def dead_letter(self, stream: str, entries: list[tuple[str, str]]) -> None:
        failures = failures_key(self.group)
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


def _split(deliveries: list[Delivery], done_ids: set[str]) -> tuple[list[Delivery], list[Delivery]]:
    """Fresh deliveries and duplicates: done before, or a second entry of an id in the batch."""
    if not done_ids and len(deliveries) == len({d.event_id for d in deliveries}):
        return deliveries, []  # the usual batch: nothing seen before, nothing repeated
    fresh, duplicates, seen = [], [], set()
    for delivery in deliveries:
        if delivery.event_id in done_ids or delivery.event_id in seen:
            duplicates.append(delivery)
        else:
            seen.add(delivery.event_id)
            fresh.append(delivery)
    return fresh, duplicates
