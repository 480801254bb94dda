"""The SDK's direct Redis mode and the product's mesh share one wire format.

The SDK writes streams with plain redis-py (it cannot import the product); these tests read
what it wrote through the product's own consumer, so the two cannot drift apart unseen.
"""

from __future__ import annotations

from datetime import UTC, datetime

import redis
from django.conf import settings
from ulid import ULID

from agents import mesh
from agents.events import parse_event
from aiops_sdk import AIOpsClient, redis_transport
from aiops_sdk.core import build_event, new_ulid


def test_the_sdk_mirrors_the_mesh_constants() -> None:
    assert redis_transport.STREAM_PREFIX == mesh.STREAM_PREFIX
    assert redis_transport.STREAM_INDEX_KEY == mesh.STREAM_INDEX_KEY
    assert redis_transport.EVENT_FIELD == mesh.EVENT_FIELD
    assert redis_transport.ID_FIELD == mesh.ID_FIELD


def test_an_event_written_by_the_sdk_reads_back_through_the_mesh_consumer_identically(
    clean_redis: redis.Redis,
) -> None:
    payload = {
        "method": "POST",
        "endpoint": "/bookmarks/<int:pk>/",
        "status": 503,
        "latency_ms": 12.25,
        "user_id": "7",
        "note": "naïve café ✓",  # non-ASCII travels as UTF-8, as orjson writes it
        "nested": {"tries": [1, 2, 3], "ok": False, "none": None},
    }
    sent = {
        "with a correlation id": dict(severity="error", correlation_id="req-91"),
        "without one": dict(severity="info"),
    }
    emitted: list[str] = []
    with AIOpsClient(service="bookmarks", instance="web-1", redis_url=settings.REDIS_URL) as sdk:
        for options in sent.values():
            emitted.append(sdk.emit("api.request", payload, **options))
        # Whole seconds: the timestamp's short form (no microseconds) must match as well.
        emitted.append(
            sdk.emit("api.request", payload, timestamp=datetime(2026, 1, 31, 12, tzinfo=UTC))
        )
        assert sdk.flush(timeout=5)

    received: list[mesh.Delivery] = []
    consumer = mesh.StreamConsumer("wire-test", ["events:api.request"], received.extend)
    assert consumer.poll(block_ms=100) == 3

    assert [d.event_id for d in received] == emitted
    for delivery in received:
        event = delivery.event
        # What the product itself would have written for the same event, byte for byte.
        assert delivery.raw == event.to_json_bytes()
        assert event.source == "bookmarks" and event.instance == "web-1"
        assert event.payload == payload
    assert received[0].event.correlation_id == "req-91"
    assert received[1].event.correlation_id is None
    assert received[2].event.timestamp == datetime(2026, 1, 31, 12, tzinfo=UTC)
    assert clean_redis.smembers(mesh.STREAM_INDEX_KEY) == {b"events:api.request"}
    assert mesh.known_streams() == ["events:api.request"]


def test_the_sdk_bytes_equal_the_products_for_the_same_event() -> None:
    event = build_event(
        "import.failed",
        {"import_id": "i-1", "error": "timeout", "ratio": 0.1, "big": 2**62},
        source="importer",
        instance="",
        severity="error",
        correlation_id="c-1",
    )
    assert redis_transport.encode_for_stream(event) == parse_event(event).to_json_bytes()


def test_sdk_ids_are_ulids_the_mesh_can_bucket_by_time() -> None:
    moment = 1_790_000_000.123
    minted = new_ulid(moment)
    parsed = ULID.from_str(minted)  # the product's ULID library accepts it
    assert str(parsed) == minted and len(minted) == 26
    assert parsed.milliseconds == int(moment * 1000)
    assert new_ulid(moment) != minted  # the random part differs within one millisecond
    assert minted < new_ulid(moment + 1)  # sorts by creation time, as ULIDs must
