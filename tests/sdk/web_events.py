"""Fixtures' helpers for the WSGI/ASGI tests: a client on the live ingest API, what arrived."""

from __future__ import annotations

import json
import time
from typing import Any

import redis

from agents.models import ApiToken
from aiops_sdk import AIOpsClient

SERVICE = "shop"


def live_client(url: str, service: str = SERVICE) -> AIOpsClient:
    """An SDK client posting to the product's real ingest API, with a fresh token."""
    _, token = ApiToken.issue(f"{service}-test", service)
    return AIOpsClient(url, token, service=service, instance="web-1", flush_interval=0.05)


def arrived(
    store: redis.Redis, client: AIOpsClient, event_type: str, count: int = 1
) -> list[dict[str, Any]]:
    """The events of ``event_type`` on the mesh once at least ``count`` arrived (or 10 s
    passed). A middleware reports after the server sent the response's last byte, so the
    test's HTTP client may have its answer a moment before the event is emitted."""
    deadline = time.monotonic() + 10
    while True:
        assert client.flush(timeout=10)
        assert client.stats.failed == 0
        found = [json.loads(fields[b"e"]) for _, fields in store.xrange(f"events:{event_type}")]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def requests_to(events: list[dict[str, Any]], endpoint: str) -> list[dict[str, Any]]:
    return [event["payload"] for event in events if event["payload"]["endpoint"] == endpoint]
