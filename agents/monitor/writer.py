"""Folding a batch of events into the shared per-minute (and per-second) rollups in Redis.

A batch is first summed in memory, then added with one round trip, so Redis sees one
increment per distinct (key, field) and the totals are the same whichever worker saw which
event.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import redis

from agents.events import Event
from agents.monitor import store
from agents.monitor.histogram import bucket_index
from agents.monitor.series import (
    MAX_ENDPOINTS,
    MAX_METRIC_SERIES,
    normalise_endpoint,
    series_name,
)

#: The event types the monitor reads.
MONITORED_TYPES: tuple[str, ...] = (
    "api.request",
    "bookmark.created",
    "bookmark.searched",
    "db.query",
    "import.started",
    "import.completed",
    "import.failed",
    "metric.sample",
    "user.activity",
)


def _timestamp(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float):
        return float(value)
    return datetime.fromisoformat(str(value)).timestamp()


def event_record(event: Event | Mapping[str, Any]) -> Mapping[str, Any]:
    """Events may come as :class:`Event` or as the decoded wire JSON (the hot path)."""
    if isinstance(event, Event):
        return {
            "id": event.id,
            "type": event.type,
            "source": event.source,
            "timestamp": event.timestamp,
            "payload": event.payload,
        }
    return event


@dataclass
class Batch:
    """One batch summed in memory, so Redis sees one command per distinct (key, field).

    ``seconds``, ``triggers`` and ``sources`` are what the fast path reads: per-second
    counters, the ids of events that may start a burst, and the service they came from.
    """

    counters: dict[tuple[int, str], dict[str, float]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(float))
    )
    users: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))
    seconds: dict[int, dict[str, float]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(float))
    )
    pending: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    triggers: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    sources: dict[str, str] = field(default_factory=dict)
    last_second: int | None = None

    def add(self, minute: int, group: str, values: Mapping[str, float]) -> None:
        bucket = self.counters[(minute, group)]
        for name, amount in values.items():
            bucket[name] += amount


class RollupWriter(store.RedisBacked):
    """Sums batches of events and adds them to the rollups; admits labels under a cap."""

    def __init__(self, client: redis.Redis | None = None) -> None:
        super().__init__(client)
        self._endpoints: dict[str, bool] = {}
        self._metrics: dict[str, bool] = {}
        self._script: Any = None

    def fold(self, events: Iterable[Event | Mapping[str, Any]]) -> Batch:
        """Sum a batch of events in memory."""
        batch = Batch()
        for event in events:
            self._observe(batch, event_record(event))
        return batch

    def _observe(self, batch: Batch, record: Mapping[str, Any]) -> None:
        kind = record["type"]
        payload = record.get("payload") or {}
        at = _timestamp(record["timestamp"])
        second = int(at)
        minute = second // store.MINUTE
        batch.pending[minute] += 1
        if batch.last_second is None or second > batch.last_second:
            batch.last_second = second
        user = payload.get("user_id")
        if user:
            batch.users[minute].add(str(user))
        if kind == "api.request":
            latency = float(payload.get("latency_ms", 0.0))
            error = 1.0 if int(payload.get("status", 200)) >= 500 else 0.0
            values = {"count": 1.0, "errors": error, "sum": latency, f"h{bucket_index(latency)}": 1}
            batch.add(minute, "api", values)
            endpoint = self._endpoint(str(payload.get("endpoint", "")))
            if endpoint is not None:
                batch.add(minute, f"api|{endpoint}", values)
            fast = batch.seconds[second]
            fast["api.count"] += 1
            fast["api.errors"] += error
            fast["api.sum"] += latency
            batch.sources["api"] = str(record.get("source", ""))
            if error:
                batch.triggers["api.error_rate"].append(str(record.get("id", "")))
                batch.sources["api.error_rate"] = str(record.get("source", ""))
        elif kind in ("db.query", "bookmark.searched"):
            ms = float(payload.get("duration_ms" if kind == "db.query" else "latency_ms", 0.0))
            group = "db" if kind == "db.query" else "search"
            batch.add(minute, group, {"count": 1, "sum": ms, f"h{bucket_index(ms)}": 1})
            if kind == "bookmark.searched":
                batch.add(minute, "core", {"users.actions": 1})
        elif kind == "bookmark.created":
            batch.add(minute, "core", {"bookmarks.created": 1, "users.actions": 1})
        elif kind == "user.activity":
            batch.add(minute, "core", {"users.actions": 1})
        elif kind in ("import.started", "import.completed", "import.failed"):
            counter = "imports." + kind.removeprefix("import.")
            values = {counter: 1.0}
            if kind == "import.started":
                values["users.actions"] = 1.0
            batch.add(minute, "core", values)
            if kind == "import.failed":
                batch.seconds[second]["imports.failed"] += 1
                batch.triggers["imports.failed"].append(str(record.get("id", "")))
                batch.sources["imports.failed"] = str(record.get("source", ""))
        elif kind == "metric.sample":
            name = self._metric(payload)
            if name is not None:
                batch.add(minute, f"metric|{name}", {"count": 1, "sum": float(payload["value"])})

    def _endpoint(self, endpoint: str) -> str | None:
        """The endpoint's label, or None past ``MAX_ENDPOINTS`` (a guard on cardinality)."""
        endpoint = normalise_endpoint(endpoint)
        return endpoint if self._admit(store.ENDPOINTS_KEY, self._endpoints, endpoint) else None

    def _metric(self, payload: Mapping[str, Any]) -> str | None:
        labels = payload.get("labels") or {}
        name = series_name(
            f"metric.{payload.get('name')}", **{k: str(v) for k, v in labels.items()}
        )
        return name if self._admit(store.METRICS_KEY, self._metrics, name) else None

    def _admit(self, key: str, known: dict[str, bool], member: str) -> bool:
        """Whether a label value gets its own series; decided once per process and value."""
        if member not in known:
            limit = MAX_ENDPOINTS if key == store.ENDPOINTS_KEY else MAX_METRIC_SERIES
            client = self.client
            admitted = bool(client.sismember(key, member)) or client.scard(key) < limit
            if admitted:
                client.sadd(key, member)
            known[member] = admitted
        return known[member]

    def write(self, batch: Batch) -> None:
        """Apply the batch's sums in one round trip.

        The increments go through one small Lua script (HINCRBY / HINCRBYFLOAT per field, then
        EXPIRE per key) rather than one pipelined command each: a batch touches a hundred or
        more histogram fields, and parsing a reply per field was most of the handler's time.
        """
        keys: list[str] = []
        ttls: list[int] = []
        ops: list[str | int | float] = []
        for (minute, group), values in batch.counters.items():
            keys.append(store.minute_key(minute, group))
            ttls.append(store.KEEP_SECONDS)
            for name, amount in values.items():
                # Counts stay integers (HINCRBY refuses a field once it holds a float).
                ops += [len(keys), "f" if name == "sum" else "i", name,
                        amount if name == "sum" else int(amount)]  # fmt: skip
        for second, values in batch.seconds.items():
            keys.append(store.second_key(second))
            ttls.append(store.SECOND_KEY_TTL)
            for name, amount in values.items():
                ops += [len(keys), "f", name, amount]
        pipe = self.client.pipeline(transaction=False)
        self._increment(keys=keys, args=[len(keys), *ttls, *ops], client=pipe)
        groups: dict[int, list[str]] = defaultdict(list)
        for minute, group in batch.counters:
            groups[minute].append(group)
        for minute, names in groups.items():
            pipe.sadd(store.groups_key(minute), *names)
            pipe.expire(store.groups_key(minute), store.KEEP_SECONDS)
        for minute, users in batch.users.items():
            pipe.pfadd(store.users_key(minute), *users)
            pipe.expire(store.users_key(minute), store.KEEP_SECONDS)
        # Last: a minute becomes pending (or is re-dirtied) only once its data is in.
        for minute, count in batch.pending.items():
            pipe.hincrby(store.PENDING_KEY, str(minute), count)
        pipe.execute()

    @property
    def _increment(self) -> Any:
        if self._script is None:
            self._script = self.client.register_script(store.INCREMENT_SCRIPT)
        return self._script
