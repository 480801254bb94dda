"""Every Redis client rides out a Redis restart with the project's retry options: a command
issued while Redis is down succeeds once it is back on the same port, with no new client.
A private redis-server (the embedded binary) is killed and restarted for each test."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator

import pytest
import redis
from asgiref.sync import async_to_sync
from channels_redis.core import RedisChannelLayer
from django.core.cache.backends.redis import RedisCache

from aiops_site import embedded
from core import redis_retry
from tests.site.test_stack import _free_port

DOWN_SECONDS = 1.5


class Server:
    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603  (the embedded Redis binary)
            [str(embedded._redis_binary()), "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while not embedded._redis_ping(self.port):
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def crash_and_come_back(self) -> threading.Thread:
        """SIGKILL now; the same port answers again after DOWN_SECONDS (in a thread)."""
        self.kill()

        def restart() -> None:
            time.sleep(DOWN_SECONDS)
            self.start()

        thread = threading.Thread(target=restart)
        thread.start()
        return thread


@pytest.fixture
def server() -> Iterator[Server]:
    running = Server(_free_port())
    running.start()
    yield running
    if running.process and running.process.poll() is None:
        running.kill()


def test_the_mesh_client_retries_through_a_restart(server):
    client = redis.Redis.from_url(server.url, **redis_retry.sync_options())
    client.set("before", 1)

    comeback = server.crash_and_come_back()
    started = time.monotonic()
    client.set("during", 2)  # issued while Redis is down
    comeback.join()

    assert client.get("during") == b"2"
    assert time.monotonic() - started >= DOWN_SECONDS * 0.9  # it waited, then succeeded


def test_the_cache_retries_through_a_restart(server):
    cache = RedisCache(server.url, {"OPTIONS": redis_retry.sync_options()})
    cache.set("k", "before")

    comeback = server.crash_and_come_back()
    cache.set("k", "during")
    comeback.join()

    assert cache.get("k") == "during"


def test_the_channel_layer_retries_through_a_restart(server):
    layer = RedisChannelLayer(hosts=[{"address": server.url, **redis_retry.async_options()}])

    async def round_trip(payload: str) -> dict:
        await layer.send("screen.one", {"type": "repaint", "payload": payload})
        return await layer.receive("screen.one")

    assert async_to_sync(round_trip)("before")["payload"] == "before"
    comeback = server.crash_and_come_back()
    try:
        assert async_to_sync(round_trip)("during")["payload"] == "during"
    finally:
        comeback.join()
