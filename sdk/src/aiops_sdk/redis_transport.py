"""Direct-to-Redis transport, for services running inside the cluster (``pip install
'aiops-sdk[redis]'``).

It skips the HTTP hop and writes the event mesh's wire format with plain redis-py, so it
needs neither Django nor AI-Ops Core installed: one ``XADD events:<type> MAXLEN ~ <n> *
id <event id> e <event JSON>`` per event, pipelined, plus ``SADD aiops:streams`` for the
streams written (the product's stream index). The product's tests read an event written
here back through its own mesh consumer, so the two cannot drift.

There is no HTTP server to refuse an invalid event in this mode: pass ``validate`` (inside
AI-Ops Core, ``agents.events.parse_event``) to check each event in ``emit``, where an
invalid one raises in the caller's hands. Without it, only the SDK's own checks run and a
payload the product's schema refuses ends in the mesh's dead-letter stream.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from aiops_sdk.core import RetryableError

# The wire format, mirrored from the product's agents/mesh.py (the product's tests check it).
STREAM_PREFIX = "events:"
STREAM_INDEX_KEY = "aiops:streams"
ID_FIELD = "id"
EVENT_FIELD = "e"
# The product's default EVENT_STREAM_MAXLEN: streams are trimmed approximately to this.
DEFAULT_STREAM_MAXLEN = 1_000_000
# The key order of the product's Event.to_json_bytes, so both write the same bytes.
WIRE_KEYS = ("id", "type", "source", "instance", "timestamp", "severity", "correlation_id")

Validator = Callable[[dict[str, Any]], object]


class StreamEntry(NamedTuple):
    stream: str
    event_id: str
    body: bytes


def encode_for_stream(event: dict[str, Any]) -> bytes:
    """The event as the mesh stores it: every envelope key (``correlation_id`` null when
    absent), UTC timestamps ending in ``Z``, compact UTF-8 JSON."""
    wire: dict[str, Any] = {key: event.get(key) for key in WIRE_KEYS}
    wire["instance"] = wire["instance"] or ""
    wire["timestamp"] = str(wire["timestamp"]).replace("+00:00", "Z")
    wire["payload"] = event.get("payload") or {}
    # allow_nan=False: NaN/Infinity have no JSON form the product's consumers could read.
    return json.dumps(
        wire, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=str
    ).encode()


class RedisTransport:
    """Publish straight to the event mesh at ``redis_url`` (or through a given ``client``,
    which the transport then does not close)."""

    max_batch_events: int | None = None
    max_batch_bytes: int | None = None
    timeout = 5.0

    def __init__(
        self,
        redis_url: str | None = None,
        *,
        client: redis.Redis | None = None,
        validate: Validator | None = None,
        maxlen: int = DEFAULT_STREAM_MAXLEN,
    ) -> None:
        if client is None and not redis_url:
            raise ValueError("give redis_url= or client=")
        self._validate = validate
        self.maxlen = maxlen
        self._owns_client = client is None
        self._client = client or redis.Redis.from_url(
            redis_url,
            socket_timeout=self.timeout,
            socket_connect_timeout=2,
            # The client retries with its own backoff and buffer; redis-py's retries
            # would only hold the flusher (and close()) longer.
            retry=Retry(NoBackoff(), 0),
        )

    def prepare(self, event: dict[str, Any]) -> StreamEntry:
        if self._validate is not None:
            self._validate(event)  # raises for an event the product would refuse
        return StreamEntry(STREAM_PREFIX + event["type"], event["id"], encode_for_stream(event))

    def size_of(self, item: StreamEntry) -> int:
        return 1

    def send(self, items: Sequence[StreamEntry]) -> None:
        if not items:
            return
        pipe = self._client.pipeline(transaction=False)
        for entry in items:
            pipe.execute_command(
                "XADD", entry.stream, "MAXLEN", "~", self.maxlen, "*",
                ID_FIELD, entry.event_id, EVENT_FIELD, entry.body,
            )  # fmt: skip
        pipe.sadd(STREAM_INDEX_KEY, *{entry.stream for entry in items})
        try:
            pipe.execute()
        except redis.RedisError as exc:
            # Connection loss, timeouts, OOM refusals: all pass; the batch is kept. A retried
            # batch may have been half-appended: the ids repeat, consumers dedupe by id.
            raise RetryableError(f"{type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        # A client made from redis_url is ours; a given one (e.g. the product's shared one)
        # is not.
        if self._owns_client:
            self._client.close()
