"""The SDK against the real ingest API (``agents/ingest/api.py``) served by a live Django server."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from agents.models import ApiToken
from aiops_sdk import AIOpsClient


@pytest.mark.django_db(transaction=True)
def test_the_client_publishes_registers_and_beats_through_the_real_api(
    live_server: Any, clean_redis: redis.Redis
) -> None:
    _, token = ApiToken.issue("sdk-test", "bookmarks")
    request = {"method": "GET", "endpoint": "/b/<int:pk>/", "status": 200, "latency_ms": 2.0}
    with AIOpsClient(live_server.url, token, service="bookmarks", instance="web-1") as client:
        ids = [client.emit("api.request", request) for _ in range(3)]
        client.emit("api.request", {"method": "GET"})  # refused: the server names events[3]
        assert client.flush(timeout=10)
        assert client.register(
            version="1.0",
            base_url=live_server.url,
            health_url=f"{live_server.url}/health",
            tags={"role": "web"},
            heartbeat_interval=None,
        )
        assert client.heartbeat()
        stats = client.stats
    assert (stats.sent, stats.failed, stats.retried) == (3, 1, 0)
    stored = [fields[b"id"].decode() for _, fields in clean_redis.xrange("events:api.request")]
    assert stored == ids
