"""``settings.AIOPS`` with ``TRANSPORT: "redis"``: the project's Redis by default, and the
event schema a ``VALIDATE`` dotted path names, checked in ``emit``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis

from agents.events import EventValidationError
from aiops_sdk.django import get_client, reset_client


@pytest.fixture
def redis_mode(settings: Any) -> Iterator[None]:
    settings.AIOPS = {
        "SERVICE": "shop",
        "INSTANCE": "web-1",
        "TRANSPORT": "redis",
        "VALIDATE": "agents.events.parse_event",
        "STREAM_MAXLEN": 5000,
    }
    yield
    reset_client()


def test_it_validates_at_emit_and_writes_to_the_projects_redis(
    redis_mode: None, clean_redis: redis.Redis
) -> None:
    client = get_client()
    assert client.transport.maxlen == 5000
    with pytest.raises(EventValidationError) as refused:
        client.emit("api.request", {"method": "GET", "status": 200, "latency_ms": 1})
    assert refused.value.errors == [{"field": "payload.endpoint", "reason": "Field required"}]
    event_id = client.emit(
        "api.request", {"method": "GET", "endpoint": "/x/", "status": 200, "latency_ms": 1}
    )
    assert client.flush(timeout=5)
    assert [f[b"id"].decode() for _, f in clean_redis.xrange("events:api.request")] == [event_id]
