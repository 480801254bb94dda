"""Direct-to-Redis mode: validated at emit (with the product's schema handed to the SDK),
appended to the real ``events:<type>`` streams."""

from __future__ import annotations

import asyncio

import pytest
import redis
from django.conf import settings

from agents.events import Event, EventValidationError, parse_event
from agents.mesh import EVENT_FIELD
from aiops_sdk import AIOpsClient, AsyncAIOpsClient, RedisTransport
from tests.sdk.fake_ingest import wait_until


def test_it_writes_to_the_event_streams(clean_redis: redis.Redis) -> None:
    with AIOpsClient(service="bookmarks", redis_url=settings.REDIS_URL, batch_size=3) as client:
        ids = [
            client.emit(
                "api.request",
                {"method": "GET", "endpoint": "/b/<int:pk>/", "status": 200, "latency_ms": 3.5},
            )
            for _ in range(4)
        ]
        client.emit("import.failed", {"import_id": "i1", "error": "timeout"}, severity="error")
        assert client.flush(timeout=5)
        assert client.stats.sent == 5
    assert clean_redis.xlen("events:api.request") == 4
    assert clean_redis.xlen("events:import.failed") == 1
    stored = [
        Event.from_json(fields[EVENT_FIELD.encode()])
        for _, fields in clean_redis.xrange("events:api.request")
    ]
    assert [e.id for e in stored] == ids
    assert stored[0].source == "bookmarks" and stored[0].payload["endpoint"] == "/b/<int:pk>/"


def test_it_refuses_an_invalid_event_at_emit_naming_the_field(clean_redis: redis.Redis) -> None:
    transport = RedisTransport(settings.REDIS_URL, validate=parse_event)
    with AIOpsClient(service="bookmarks", transport=transport) as client:
        with pytest.raises(EventValidationError) as refused:
            client.emit("api.request", {"method": "GET", "status": 200, "latency_ms": 1})
        assert refused.value.errors == [{"field": "payload.endpoint", "reason": "Field required"}]
        with pytest.raises(EventValidationError, match="unknown event type"):
            client.emit("made.up", {})
        assert client.flush(timeout=2)
    assert clean_redis.xlen("events:api.request") == 0
    assert client.stats.sent == 0


def test_it_keeps_events_while_redis_is_unreachable() -> None:
    client = AIOpsClient(
        service="bookmarks",
        redis_url="redis://127.0.0.1:9/0",
        flush_interval=0.02,
        backoff_base=0.02,
        max_backoff=0.05,
    )
    client.emit("user.activity", {"user_id": "u", "action": "login"})
    wait_until(lambda: client.stats.retried >= 2)
    client.close(timeout=0.1)
    assert client.stats.dropped == 1 and client.stats.sent == 0


def test_the_async_client_publishes_through_a_thread(clean_redis: redis.Redis) -> None:
    async def scenario() -> None:
        transport = RedisTransport(settings.REDIS_URL)
        async with AsyncAIOpsClient(service="importer", transport=transport) as client:
            client.emit("user.activity", {"user_id": "u", "action": "import"})
            assert await client.flush(timeout=5)

    asyncio.run(scenario())
    assert clean_redis.xlen("events:user.activity") == 1
