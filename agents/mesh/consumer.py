"""Consuming: a member of a consumer group that reclaims, reads, handles and acknowledges."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable

import redis
from django.conf import settings

from agents.mesh.ledger import GroupLedger
from agents.mesh.wire import (
    HANDLER_SECONDS,
    BackendUnavailable,
    BatchHandler,
    Delivery,
    default_consumer_name,
    is_dead_local_consumer,
    is_outage,
)
from core.redis import get_redis

logger = logging.getLogger(__name__)


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
        self.ledger = GroupLedger(self.client, group, self.max_deliveries)
        self._handler_seconds = HANDLER_SECONDS.labels(group)  # labels() per batch is a lookup
        self._last_reclaim = 0.0
        self.ensure_groups()
        self.adopt_dead_local_consumers()

    def ensure_groups(self) -> None:
        """Create the group on each stream (from its start, so nothing published is missed)."""
        for stream in self.streams:
            try:
                self.client.xgroup_create(stream, self.group, id="0", mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    def adopt_dead_local_consumers(self) -> int:
        """Take over, at once, the pending entries of this group's consumers that ran on this
        host in a process that is gone (a worker SIGKILLed and restarted by its supervisor);
        returns how many entries were taken. They are re-read first, like an outage's.

        Without this they would wait for the idle claim (``MESH_CLAIM_IDLE_MS``, 30 s). Only
        names made by :func:`default_consumer_name` on this host are judged, and only by
        whether their pid is alive here; anything else waits for the idle claim as before.
        """
        taken = 0
        for stream in self.streams:
            for info in self.client.xinfo_consumers(stream, self.group):
                name = info["name"].decode() if isinstance(info["name"], bytes) else info["name"]
                if name == self.consumer or not is_dead_local_consumer(name):
                    continue
                taken += self._take_all_pending(stream, name)
                self.client.xgroup_delconsumer(stream, self.group, name)
        if taken:
            self._replaying = True
            logger.info("took over a dead consumer's entries",
                        extra={"group": self.group, "entries": taken})  # fmt: skip
        return taken

    def _take_all_pending(self, stream: str, owner: str) -> int:
        taken = 0
        while pending := self.client.xpending_range(
            stream, self.group, min="-", max="+", count=1000, consumername=owner
        ):
            ids = [p["message_id"] for p in pending]
            # JUSTID: only ownership moves (the entries are re-read by id); delivery counts stay.
            claimed = self.client.xclaim(stream, self.group, self.consumer, 0, ids, justid=True)
            if not claimed:  # nothing moved (entries gone meanwhile): do not spin
                break
            taken += len(claimed)
        return taken

    # The loop ----------------------------------------------------------------------------

    def run(self, should_stop: Callable[[], bool], *, block_ms: int = 1000) -> int:
        handled = 0
        try:
            while not should_stop():
                handled += self.poll(block_ms=block_ms)
        finally:
            self.flush()  # a clean stop leaves nothing pending
        return handled

    def poll(self, *, block_ms: int = 1000) -> int:
        """Handle what there is; the handled batch's mark-done and acks go out with the next
        poll's read (or :meth:`flush`), so a caller that stops polling must call flush()."""
        if self._replaying:
            self.flush()  # else replay would re-read the last batch, not yet acknowledged
            handled = self._replay_own_pending()
            if self._replaying:
                return handled
        else:
            handled = 0
        now = time.monotonic()
        if self._reclaim_again or now - self._last_reclaim >= self.claim_idle_ms / 1000 / 2:
            self._last_reclaim = now
            self.flush()  # a batch whose handler ran long is idle too: never reclaim it
            if self.adopt_dead_local_consumers():  # a sibling here died: replay its entries
                return handled
            handled += self.reclaim()
        handled += self._handle_entries(self._read_new(block_ms), defer=True)
        return handled

    def flush(self) -> None:
        """Mark done and acknowledge the last handled batch now, not with the next read."""
        self.ledger.flush()

    def _read_new(self, block_ms: int) -> list[Delivery]:
        # The last batch's mark-done and acks ride in front of this read: one round trip a
        # batch fewer. Redis runs them in order, so they are done before the read can block.
        response = self.ledger.after_deferred(
            lambda client: client.xreadgroup(
                self.group,
                self.consumer,
                dict.fromkeys(self.streams, ">"),
                count=self.batch_size,
                block=block_ms or None,
            )
        )
        deliveries = []
        for stream, messages in response or []:
            deliveries += Delivery.from_stream(stream.decode(), messages)
        return deliveries

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
        return self._handle_entries(_redelivered(entries))

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
                self.ledger.dead_letter_ids(stream, exhausted)
            if retry:
                claimed = self.client.xclaim(
                    stream, self.group, self.consumer, self.claim_idle_ms, retry
                )
                entries = [(stream, eid.decode(), fields) for eid, fields in claimed if fields]
                missing = {m.decode() for m in retry} - {e[1] for e in entries}
                if missing:  # trimmed while pending: nothing left to handle
                    self.client.xack(stream, self.group, *missing)
                handled += self._handle_entries(_redelivered(entries))
        return handled

    # Handling ----------------------------------------------------------------------------

    def _handle_entries(self, deliveries: list[Delivery], *, defer: bool = False) -> int:
        """Hand the fresh deliveries to the handler; with ``defer`` their mark-done and acks
        wait for the next read (see :meth:`_read_new`), otherwise they go out at once."""
        if not deliveries:
            return 0
        fresh, duplicates = self.ledger.split_done(deliveries)
        if duplicates and defer:
            self.ledger.defer([], duplicates)
        elif duplicates:
            self.ledger.ack(duplicates)
        if not fresh:
            return 0
        try:
            with self._handler_seconds.time():
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
        if defer:
            self.ledger.defer(fresh, [])
        else:
            self.ledger.complete(fresh)
        return len(fresh)

    def _handle_one_by_one(self, deliveries: list[Delivery]) -> int:
        handled = []
        for delivery in deliveries:
            try:
                self.handler([delivery])
            except Exception as exc:
                if is_outage(exc):
                    self.ledger.complete(handled)
                    self._outage(exc)
                self.ledger.record_failure(delivery, exc)
            else:
                handled.append(delivery)
        self.ledger.complete(handled)
        return len(handled)

    def _outage(self, exc: Exception) -> None:
        """Keep the entries pending here, uncounted, and re-read them once the store is back."""
        self._replaying = True
        raise BackendUnavailable(f"{self.group}: {type(exc).__name__}: {exc}"[:500]) from exc


def _redelivered(entries: list[tuple[str, str, dict]]) -> list[Delivery]:
    return [Delivery.from_entry(*entry, redelivered=True) for entry in entries]
