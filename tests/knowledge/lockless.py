"""A counting wrapper around the real Redis client: known lines must never take the lock."""

from __future__ import annotations

from typing import Any

import redis


class CountingRedis:
    """Passes every attribute through to ``client``, noting its name in ``calls``; asking
    for ``lock`` fails the test, since a worker answering known lines must not mine."""

    def __init__(self, client: redis.Redis, calls: list[str]) -> None:
        self._client = client
        self._calls = calls

    def __getattr__(self, name: str) -> Any:
        self._calls.append(name)
        if name == "lock":
            raise AssertionError("a known line must not take the mining lock")
        return getattr(self._client, name)
