"""Batching under a steady stream: a handful of requests per 1,000 events, and a 429 obeyed.

Issue 13 measured 272 requests per 1,000 events at 200 events/s (and 429s from the per-token
limit): a due flush kept sending until the buffer was empty, so every answer of a slow
server found a few new events to send at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis

from agents.models import ApiToken
from aiops_sdk import AIOpsClient, AsyncAIOpsClient
from tests.sdk.fake_ingest import TOKEN, FakeIngest, Reply

RATE = 200  # events per second
REQUEST = {"method": "GET", "endpoint": "/b/<int:pk>/", "status": 200, "latency_ms": 2.0}


def emit_steadily(emit: Callable[[], Any], count: int, rate: float = RATE) -> None:
    """``count`` emits at ``rate`` per second, paced against the clock (no drift)."""
    started = time.monotonic()
    for index in range(count):
        ahead = started + index / rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
        emit()


@pytest.mark.django_db(transaction=True)
def test_a_thousand_events_at_200_per_second_take_a_handful_of_requests_to_the_real_api(
    live_server: Any, clean_redis: redis.Redis
) -> None:
    _, token = ApiToken.issue("batching", "bookmarks")
    with AIOpsClient(live_server.url, token, service="bookmarks") as client:
        sizes: list[int] = []
        send = client.transport.send

        def counting_send(items: Any) -> None:
            sizes.append(len(items))
            send(items)

        client.transport.send = counting_send  # type: ignore[method-assign]
        emit_steadily(lambda: client.emit("api.request", REQUEST), 1000)
        assert client.flush(timeout=10)
        stats = client.stats
    # One request per second's worth (flush_interval 1 s), plus the final flush: 5 or 6.
    assert len(sizes) <= 7, sizes
    assert (stats.sent, stats.retried, stats.dropped) == (1000, 0, 0)
    assert clean_redis.xlen("events:api.request") == 1000


def test_a_429_delays_the_next_send_by_its_retry_after_and_loses_nothing(
    ingest: FakeIngest,
) -> None:
    ingest.latency = 0.02
    ingest.script.append(Reply(429, {"Retry-After": "1"}, {"detail": "slow down"}))
    with AIOpsClient(ingest.url, TOKEN, service="bookmarks", flush_interval=0.5) as client:
        ids: list[str] = []
        emit_steadily(lambda: ids.append(client.emit("api.request", REQUEST)), 500)
        assert client.flush(timeout=10)
        stats = client.stats
    requests = ingest.event_requests()
    assert requests[0].status == 429 and all(r.status == 202 for r in requests[1:])
    # Nothing at all went out while the server's Retry-After ran.
    assert requests[1].at - requests[0].at >= 0.99
    assert [e["id"] for e in ingest.accepted()] == ids  # every event, once, in order
    assert (stats.sent, stats.dropped, stats.failed) == (500, 0, 0)
    assert len(requests) <= 6


def test_the_async_client_sends_one_batch_per_interval_from_a_slow_server(
    ingest: FakeIngest,
) -> None:
    ingest.latency = 0.05  # about the live ingest's answer time under the test server

    async def scenario() -> None:
        async with AsyncAIOpsClient(ingest.url, TOKEN, service="bookmarks") as client:
            for index in range(400):
                client.emit("api.request", REQUEST)
                await asyncio.sleep(max(0.0, started + (index + 1) / RATE - time.monotonic()))
            assert await client.flush(timeout=10)

    started = time.monotonic()
    asyncio.run(scenario())
    sizes = [len(r.events) for r in ingest.event_requests()]
    assert sum(sizes) == 400 and len(ingest.accepted()) == 400
    assert len(sizes) <= 4, sizes  # two intervals' worth and the final flush
