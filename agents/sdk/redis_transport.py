"""Direct-to-Redis transport, for Django services running inside the cluster.

It skips the HTTP hop: each event is validated with :func:`agents.events.parse_event` when
emitted (an invalid event raises ``EventValidationError`` in the caller's hands, naming the
field and the reason) and batches are appended with :func:`agents.mesh.publish_many`
(pipelined XADD to ``events:<type>``, the same streams and MAXLEN as the ingest API).

It needs Django settings configured (``EVENT_CUSTOM_PREFIXES``, ``EVENT_STREAM_MAXLEN`` and,
without ``redis_url``, ``REDIS_URL``): the schema and the mesh read them. That is why the
mesh is imported here, lazily, and never by the HTTP client.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from agents.sdk.core import RetryableError

if TYPE_CHECKING:
    from agents.events import Event


class RedisTransport:
    """Publish straight to the event mesh. ``redis_url`` defaults to the project's own
    ``settings.REDIS_URL`` (through :func:`core.redis.get_redis`)."""

    max_batch_events: int | None = None
    max_batch_bytes: int | None = None
    timeout = 5.0

    def __init__(self, redis_url: str | None = None, *, client: redis.Redis | None = None) -> None:
        from agents import events, mesh

        self._parse_event = events.parse_event
        self._publish_many = mesh.publish_many
        self._owns_client = client is None and bool(redis_url)
        if client is None and redis_url:
            client = redis.Redis.from_url(
                redis_url,
                socket_timeout=self.timeout,
                socket_connect_timeout=2,
                # The client retries with its own backoff and buffer; redis-py's retries
                # would only hold the flusher (and close()) longer.
                retry=Retry(NoBackoff(), 0),
            )
        self._client = client

    def prepare(self, event: dict[str, Any]) -> Event:
        return self._parse_event(event)

    def size_of(self, item: Event) -> int:
        return 1

    def send(self, items: Sequence[Event]) -> None:
        try:
            self._publish_many(items, client=self._client)
        except redis.RedisError as exc:
            # Connection loss, timeouts, OOM refusals: all pass; the batch is kept. A retried
            # batch may have been half-appended: the ids repeat, consumers dedupe by id.
            raise RetryableError(f"{type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        # A client made from redis_url is ours; a given one or the project's shared one is not.
        if self._owns_client and self._client is not None:
            self._client.close()
