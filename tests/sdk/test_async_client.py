"""The asyncio client end to end against the fake ingest server."""

from __future__ import annotations

import asyncio
import threading

from aiops_sdk import AsyncAIOpsClient
from tests.sdk.fake_ingest import TOKEN, FakeIngest, Reply


def make_client(ingest: FakeIngest, **options: object) -> AsyncAIOpsClient:
    settings = {
        "service": "importer",
        "instance": "worker-2",
        "flush_interval": 0.05,
        "backoff_base": 0.02,
        "max_backoff": 0.1,
    }
    settings.update(options)
    return AsyncAIOpsClient(ingest.url, TOKEN, **settings)  # type: ignore[arg-type]


def test_it_batches_retries_and_delivers_every_event_once(ingest: FakeIngest) -> None:
    ingest.script.append(Reply(503, body={"detail": "restarting"}))
    ingest.script.append(Reply(429, {"Retry-After": "0.1"}, {"detail": "slow down"}))

    async def scenario() -> list[str]:
        async with make_client(ingest, batch_size=10) as client:
            ids = [
                client.emit(
                    "import.started",
                    {"import_id": f"i{n}", "user_id": "u", "source": "chrome", "bookmark_count": n},
                )
                for n in range(25)
            ]
            # emit from another thread too: it wakes the task through the loop
            other = threading.Thread(
                target=lambda: ids.append(
                    client.emit("user.activity", {"user_id": "u", "action": "x"})
                )
            )
            other.start()
            other.join()
            assert await client.flush(timeout=5)
            assert client.stats.sent == 26 and client.stats.retried >= 10
        return ids

    ids = asyncio.run(scenario())
    assert sorted(e["id"] for e in ingest.accepted()) == sorted(ids)
    assert [r.status for r in ingest.event_requests()][:2] == [503, 429]
    assert all(len(r.events) <= 10 for r in ingest.event_requests())


def test_it_drops_a_400_named_event_and_flushes_on_close(ingest: FakeIngest) -> None:
    async def scenario() -> AsyncAIOpsClient:
        client = make_client(ingest, flush_interval=30.0)
        await client.start()
        client.emit("user.activity", {"user_id": "u", "action": "login"})
        client.emit("user.activity", {"user_id": "u", "action": "x", "poison": True})
        await client.aclose()  # flushes despite the long interval
        return client

    client = asyncio.run(scenario())
    assert [e["payload"]["action"] for e in ingest.accepted()] == ["login"]
    assert (client.stats.sent, client.stats.failed, client.stats.dropped) == (1, 1, 0)


def test_it_registers_and_heartbeats(ingest: FakeIngest) -> None:
    async def scenario() -> None:
        async with make_client(ingest) as client:
            assert await client.register(version="2.0", heartbeat_interval=0.02)
            for _ in range(200):
                if len(ingest.heartbeats) >= 2:
                    break
                await asyncio.sleep(0.01)

    asyncio.run(scenario())
    assert ingest.registrations[("importer", "worker-2")]["version"] == "2.0"
    assert len(ingest.heartbeats) >= 2


def test_the_first_emit_inside_a_loop_starts_the_sending_task(ingest: FakeIngest) -> None:
    async def scenario() -> None:
        client = make_client(ingest)  # no start(), no async with
        client.emit("user.activity", {"user_id": "u", "action": "login"})
        for _ in range(200):
            if ingest.accepted():
                break
            await asyncio.sleep(0.01)
        await client.aclose()

    asyncio.run(scenario())
    assert len(ingest.accepted("user.activity")) == 1
