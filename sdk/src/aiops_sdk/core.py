"""What the sync and the asyncio clients share: event building, the bounded buffer, the
transport error vocabulary and the retry decisions.

Nothing here imports Django, so a plain Python service can use the HTTP client. The full
schema lives in AI-Ops Core (``agents.events``) and is enforced by the server (or, in
direct-to-Redis mode, by the validator the product hands to
:class:`aiops_sdk.redis_transport.RedisTransport`); the checks here only catch the mistakes a
caller can fix at once (an unknown severity, a naive timestamp, a malformed type).
"""

from __future__ import annotations

import logging
import os
import random
import re
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

logger = logging.getLogger("aiops_sdk")

# Mirrors AI-Ops Core's agents.events (the authority) without importing it: the SDK installs
# without the product.
SEVERITIES: frozenset[str] = frozenset({"debug", "info", "warning", "error", "critical"})
TYPE_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")

DEFAULT_BATCH_SIZE = 500
DEFAULT_FLUSH_INTERVAL = 1.0
DEFAULT_MAX_BUFFER = 10_000
DEFAULT_BACKOFF_BASE = 0.5
DEFAULT_MAX_BACKOFF = 30.0
# A server asking for a longer pause than this is still obeyed, up to this cap, so a typo in
# a Retry-After header cannot stall a service's telemetry for hours.
DEFAULT_MAX_RETRY_AFTER = 300.0
# Threads the SDK starts carry this prefix; the log handler ignores records logged from
# them, so a failing flush can never feed itself through the handler.
THREAD_PREFIX = "aiops-sdk"


# Crockford's base32, the ULID alphabet (no I, L, O, U).
_ULID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def default_instance() -> str:
    """``role@host:pid`` (see :mod:`aiops_sdk.process`): one id per process."""
    from aiops_sdk.process import default_instance as instance_of_this_process

    return instance_of_this_process()


def new_ulid(now: float | None = None) -> str:
    """A ULID (https://github.com/ulid/spec): 48 bits of Unix milliseconds, then 80 random
    bits, as 26 base32 characters. The mesh buckets its dedup sets by the time prefix, so
    the id must be a real ULID; ten lines here spare every service a dependency."""
    millis = int((time.time() if now is None else now) * 1000)
    value = (millis << 80) | int.from_bytes(os.urandom(10), "big")
    return "".join(_ULID_ALPHABET[(value >> shift) & 31] for shift in range(125, -1, -5))


def build_event(
    event_type: str,
    payload: dict[str, Any] | None,
    *,
    source: str,
    instance: str,
    severity: str = "info",
    correlation_id: str | None = None,
    timestamp: datetime | None = None,
) -> dict[str, Any]:
    """The event envelope as the ingest API and the product's ``parse_event`` take it.

    The id is a ULID minted here, before the first attempt, so a retried batch carries the
    same ids and the mesh's idempotent consumers handle each event once in effect.
    """
    if not TYPE_PATTERN.match(event_type):
        raise ValueError(
            f"event type {event_type!r} must be lower-case and namespaced, e.g. 'import.failed'"
        )
    if severity not in SEVERITIES:
        raise ValueError(f"severity {severity!r} is not one of {sorted(SEVERITIES)}")
    if payload is not None and not isinstance(payload, dict):
        raise TypeError(f"payload must be a dict, not {type(payload).__name__}")
    moment = timestamp or datetime.now(UTC)
    if moment.tzinfo is None:
        raise ValueError("timestamp must be time-zone aware, e.g. datetime.now(UTC)")
    event: dict[str, Any] = {
        "id": new_ulid(),
        "type": event_type,
        "source": source,
        "instance": instance,
        "timestamp": moment.astimezone(UTC).isoformat(),
        "severity": severity,
        "payload": payload or {},
    }
    if correlation_id is not None:
        event["correlation_id"] = correlation_id
    return event


# --- Transports ---------------------------------------------------------------------------


class TransportError(Exception):
    """A batch was not delivered."""


class RetryableError(TransportError):
    """The server is down, overloaded or unreachable: keep the batch and try again later."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RejectedError(TransportError):
    """The server refused the batch for a reason a retry will not fix (400, 401, 413).

    ``bad_indexes`` names the refused events' positions in the batch when the server said
    which; the others were not written (batches are all-or-nothing) and can be resent.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        bad_indexes: frozenset[int] | None = None,
        too_large: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.bad_indexes = bad_indexes
        self.too_large = too_large


class Transport(Protocol):
    """Moves prepared events somewhere. ``send`` returns on success or raises a
    :class:`TransportError`; it may be a coroutine function for the asyncio client."""

    max_batch_events: int | None
    max_batch_bytes: int | None

    def prepare(self, event: dict[str, Any]) -> Any:
        """Turn an event into what ``send`` takes, in the caller's thread (errors surface in
        ``emit``). Must expose its size through :meth:`size_of` when ``max_batch_bytes``."""

    def size_of(self, item: Any) -> int: ...

    def send(self, items: Sequence[Any]) -> Any: ...

    def close(self) -> Any: ...


_INDEX = re.compile(r"^events\[(\d+)\]")


def bad_indexes_from(errors: Any) -> frozenset[int] | None:
    """The batch positions named by an ingest error body (``events[3].payload.user_id``)."""
    if not isinstance(errors, list):
        return None
    found = set()
    for error in errors:
        field = error.get("field", "") if isinstance(error, dict) else ""
        match = _INDEX.match(str(field))
        if match is None:
            return None  # an error not tied to one event: the batch as a whole is wrong
        found.add(int(match.group(1)))
    return frozenset(found) or None


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def backoff_delay(attempt: int, *, base: float, cap: float) -> float:
    """Exponential backoff with jitter: in [d/2, d], d = base * 2**(attempt-1) capped.

    Half the delay is kept so many clients restarting together still spread out without
    hammering a recovering server with near-zero waits.
    """
    delay = min(cap, base * 2 ** max(0, attempt - 1))
    return random.uniform(delay / 2, delay)  # noqa: S311 - jitter, not cryptography


def retry_delay(
    exc: RetryableError, attempt: int, *, base: float, cap: float, max_retry_after: float
) -> float:
    if exc.retry_after is not None:
        return min(exc.retry_after, max_retry_after)
    return backoff_delay(attempt, base=base, cap=cap)


@dataclass(frozen=True)
class RejectionPlan:
    resend: list[list[Any]]
    failed: list[Any]


def plan_after_rejection(batch: list[Any], exc: RejectedError) -> RejectionPlan:
    """What to do with a refused batch: drop the named events and resend the rest; split a
    too-large batch in halves (a server with a lower body limit than ours); else drop it."""
    if exc.bad_indexes and all(i < len(batch) for i in exc.bad_indexes):
        rest = [item for i, item in enumerate(batch) if i not in exc.bad_indexes]
        failed = [batch[i] for i in sorted(exc.bad_indexes)]
        return RejectionPlan(resend=[rest] if rest else [], failed=failed)
    if exc.too_large and len(batch) > 1:
        middle = len(batch) // 2
        return RejectionPlan(resend=[batch[:middle], batch[middle:]], failed=[])
    return RejectionPlan(resend=[], failed=list(batch))


# --- The buffer ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientStats:
    """Event counts since the client started.

    ``sent``: accepted by the server. ``dropped``: discarded locally (buffer full while the
    server was down, or still buffered at close). ``failed``: refused by the server
    (400/401/413), not retried. ``retried``: events put back for another attempt after a
    transient failure, counted per attempt. ``buffered``: waiting now (in flight included).
    """

    sent: int = 0
    dropped: int = 0
    retried: int = 0
    failed: int = 0
    buffered: int = 0


class EventBuffer:
    """A bounded FIFO of prepared events, shared by the caller's threads and the flusher.

    When full, the oldest event is dropped: during an outage the freshest telemetry is the
    most useful. Every event accepted is eventually resolved exactly once (sent, failed or
    dropped), which is what :meth:`wait_resolved` (``flush``) counts on.
    """

    def __init__(self, max_events: int) -> None:
        if max_events < 1:
            raise ValueError("max_buffer must be at least 1")
        self.max_events = max_events
        self._items: deque[Any] = deque()
        self._cond = threading.Condition(threading.Lock())
        self._accepted = 0
        self._resolved = 0
        self._in_flight = 0
        self._sent = self._dropped = self._retried = self._failed = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def accepted(self) -> int:
        return self._accepted

    def add(self, item: Any) -> int:
        """Append; returns how many events wait now."""
        with self._cond:
            self._accepted += 1
            self._items.append(item)
            self._trim_locked()
            return len(self._items)

    def take(self, max_events: int, max_bytes: int | None = None, size_of: Any = None) -> list[Any]:
        """Pop the oldest events: up to ``max_events``, and ``max_bytes`` when given (one
        event always goes, so an event larger than the budget cannot wedge the queue)."""
        batch: list[Any] = []
        used = 0
        with self._cond:
            while self._items and len(batch) < max_events:
                if max_bytes is not None:
                    size = size_of(self._items[0])
                    if batch and used + size > max_bytes:
                        break
                    used += size
                batch.append(self._items.popleft())
            self._in_flight += len(batch)
        return batch

    def put_back(self, items: Sequence[Any]) -> None:
        """Return a batch that failed transiently to the front, dropping the oldest overflow."""
        with self._cond:
            self._in_flight -= len(items)
            self._retried += len(items)
            self._items.extendleft(reversed(items))
            self._trim_locked()

    def mark_sent(self, count: int) -> None:
        self._resolve(count, "_sent")

    def mark_failed(self, count: int) -> None:
        self._resolve(count, "_failed")

    def drop_late(self) -> None:
        """Count an event emitted after close as accepted and dropped at once."""
        with self._cond:
            self._accepted += 1
            self._dropped += 1
            self._resolved += 1

    def drop_all(self) -> int:
        """Discard what is still buffered (the client is closing without a server)."""
        with self._cond:
            count = len(self._items)
            self._items.clear()
            self._dropped += count
            self._resolved += count
            self._cond.notify_all()
            return count

    def wait_resolved(self, target: int, timeout: float | None) -> bool:
        """Block until ``target`` events have been resolved; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._resolved >= target, timeout)

    def is_resolved(self, target: int) -> bool:
        return self._resolved >= target

    def stats(self) -> ClientStats:
        with self._cond:
            return ClientStats(
                sent=self._sent,
                dropped=self._dropped,
                retried=self._retried,
                failed=self._failed,
                buffered=len(self._items) + self._in_flight,
            )

    def _resolve(self, count: int, counter: str) -> None:
        with self._cond:
            self._in_flight -= count
            setattr(self, counter, getattr(self, counter) + count)
            self._resolved += count
            self._cond.notify_all()

    def _trim_locked(self) -> None:
        overflow = len(self._items) - self.max_events
        if overflow <= 0:
            return
        for _ in range(overflow):
            self._items.popleft()
        self._dropped += overflow
        self._resolved += overflow
        self._cond.notify_all()
        # One line per overflow burst would flood the log during an outage; debug it is,
        # and `stats.dropped` is the number to watch.
        logger.debug("buffer full: dropped %d oldest events", overflow)
