"""The sync HTTP client against a fake ingest server: batching, retries, the bounded buffer."""

from __future__ import annotations

import threading
from datetime import datetime

import pytest

from aiops_sdk import AIOpsClient
from tests.sdk.fake_ingest import TOKEN, FakeIngest, Reply, wait_until

FAST = {"backoff_base": 0.02, "max_backoff": 0.1}


def make_client(ingest: FakeIngest, **options: object) -> AIOpsClient:
    settings = {"service": "bookmarks", "instance": "web-1", "flush_interval": 30.0, **FAST}
    settings.update(options)
    return AIOpsClient(ingest.url, TOKEN, **settings)  # type: ignore[arg-type]


def created(n: int) -> dict[str, object]:
    return {"user_id": f"u{n}", "bookmark_id": str(n)}


def test_it_sends_full_batches_without_waiting_for_the_interval(ingest: FakeIngest) -> None:
    with make_client(ingest, batch_size=10) as client:
        for n in range(25):
            client.emit("bookmark.created", created(n))
        wait_until(lambda: len(ingest.event_requests()) == 2)
        assert [len(r.events) for r in ingest.event_requests()] == [10, 10]
        assert client.flush(timeout=5)
        assert [len(r.events) for r in ingest.event_requests()] == [10, 10, 5]
        assert client.stats.sent == 25


def test_it_sends_a_partial_batch_after_the_flush_interval(ingest: FakeIngest) -> None:
    with make_client(ingest, batch_size=500, flush_interval=0.1) as client:
        client.emit("bookmark.created", created(1), correlation_id="req-9")
        client.emit("import.failed", {"import_id": "i1", "error": "boom"}, severity="error")
        wait_until(lambda: len(ingest.accepted()) == 2, timeout=2)
        (request,) = ingest.event_requests()
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        first, second = request.events
        assert first["source"] == "bookmarks" and first["instance"] == "web-1"
        assert first["correlation_id"] == "req-9"
        assert second["severity"] == "error"
        assert datetime.fromisoformat(first["timestamp"]).tzinfo is not None


def test_it_retries_through_a_503_outage_with_the_same_event_ids(ingest: FakeIngest) -> None:
    ingest.down = 503
    with make_client(ingest, batch_size=5) as client:
        ids = [client.emit("bookmark.created", created(n)) for n in range(5)]
        wait_until(lambda: len(ingest.event_requests()) >= 3)  # failed, backed off, failed...
        ingest.down = None
        assert client.flush(timeout=5)
        stats = client.stats
    assert [e["id"] for e in ingest.accepted()] == ids
    for request in ingest.event_requests():  # every attempt carried the same ids
        assert [e["id"] for e in request.events] == ids
    assert stats.sent == 5 and stats.retried >= 10 and stats.dropped == stats.failed == 0


def test_it_waits_as_long_as_retry_after_says_on_429(ingest: FakeIngest) -> None:
    ingest.script.append(Reply(429, {"Retry-After": "1"}, {"detail": "slow down"}))
    with make_client(ingest, backoff_base=0.01) as client:
        client.emit("bookmark.created", created(1))
        assert client.flush(timeout=5)
    refused, accepted = ingest.event_requests()
    assert refused.status == 429 and accepted.status == 202
    assert accepted.at - refused.at >= 0.95  # not the 10 ms backoff
    assert len(ingest.accepted()) == 1


def test_it_keeps_the_newest_events_when_the_buffer_fills_during_an_outage(
    ingest: FakeIngest,
) -> None:
    ingest.down = 503
    with make_client(ingest, batch_size=10, max_buffer=50) as client:
        ids = [client.emit("bookmark.created", created(n)) for n in range(80)]
        wait_until(lambda: client.stats.dropped == 30)
        assert client.stats.buffered == 50
        ingest.down = None
        assert client.flush(timeout=5)
        stats = client.stats
    assert [e["id"] for e in ingest.accepted()] == ids[30:]  # oldest dropped, order kept
    assert (stats.sent, stats.dropped, stats.failed) == (50, 30, 0)


def test_it_drops_only_the_events_a_400_names_and_never_retries_them(ingest: FakeIngest) -> None:
    with make_client(ingest) as client:
        ids = [client.emit("bookmark.created", created(n)) for n in range(5)]
        poisoned = client.emit("bookmark.created", {"user_id": "u", "poison": True})
        assert client.flush(timeout=5)
        stats = client.stats
    refused, accepted = ingest.event_requests()
    assert refused.status == 400 and len(refused.events) == 6
    assert [e["id"] for e in accepted.events] == ids
    assert poisoned not in [e["id"] for e in ingest.accepted()]
    assert (stats.sent, stats.failed, stats.retried) == (5, 1, 0)


def test_it_drops_a_batch_refused_for_a_bad_token_without_retrying(ingest: FakeIngest) -> None:
    client = AIOpsClient(ingest.url, "wrong", service="bookmarks", **FAST)
    client.emit("bookmark.created", created(1))
    client.emit("bookmark.created", created(2))
    assert client.flush(timeout=5)
    client.close()
    assert [r.status for r in ingest.event_requests()] == [401]
    assert (client.stats.failed, client.stats.retried, client.stats.sent) == (2, 0, 0)


def test_it_splits_a_batch_the_server_finds_too_large(ingest: FakeIngest) -> None:
    ingest.max_events = 4
    with make_client(ingest, batch_size=10) as client:
        ids = [client.emit("bookmark.created", created(n)) for n in range(10)]
        assert client.flush(timeout=5)
        assert client.stats.failed == 0
    assert [e["id"] for e in ingest.accepted()] == ids
    assert all(len(r.events) <= 4 for r in ingest.event_requests() if r.status == 202)


def test_it_retries_connection_errors_and_counts_what_close_drops() -> None:
    client = AIOpsClient("http://127.0.0.1:9", TOKEN, service="bookmarks", **FAST)
    client.emit("bookmark.created", created(1))
    assert not client.flush(timeout=0.3)
    assert client.stats.retried >= 1
    client.close(timeout=0.1)
    assert client.stats.dropped == 1 and client.stats.buffered == 0


def test_emit_is_safe_from_many_threads(ingest: FakeIngest) -> None:
    with make_client(ingest, batch_size=100) as client:

        def burst() -> None:
            for n in range(500):
                client.emit("bookmark.created", created(n))

        threads = [threading.Thread(target=burst) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert client.flush(timeout=10)
    ids = [e["id"] for e in ingest.accepted()]
    assert len(ids) == len(set(ids)) == 2000


def test_emit_refuses_what_can_never_be_accepted(ingest: FakeIngest) -> None:
    with make_client(ingest) as client:
        with pytest.raises(ValueError, match="namespaced"):
            client.emit("Bookmark", {})
        with pytest.raises(ValueError, match="severity"):
            client.emit("bookmark.created", created(1), severity="fatal")
        with pytest.raises(ValueError, match="time-zone aware"):
            client.emit("bookmark.created", created(1), timestamp=datetime(2026, 1, 1))  # noqa: DTZ001
        with pytest.raises(ValueError, match="bytes"):
            client.emit("bookmark.created", {"user_id": "u", "blob": "x" * 2_000_000})
    assert client.stats.sent == 0


def test_register_then_heartbeats_on_an_interval(ingest: FakeIngest) -> None:
    with make_client(ingest) as client:
        assert client.register(
            version="1.4.2",
            base_url="http://web-1:8000",
            health_url="http://web-1:8000/health",
            control_url="http://web-1:8000/control",
            tags={"role": "web", "region": "eu"},
            heartbeat_interval=0.05,
        )
        wait_until(lambda: len(ingest.heartbeats) >= 2)
        registration = ingest.registrations[("bookmarks", "web-1")]
        assert registration["version"] == "1.4.2"
        assert registration["tags"] == {"role": "web", "region": "eu"}
        assert registration["heartbeat_ttl_seconds"] == 1  # three beats of 0.05 s, rounded up
        # The registry forgets the instance (expired): the next heartbeat registers again.
        with ingest.lock:
            ingest.registrations.clear()
        wait_until(lambda: ("bookmarks", "web-1") in ingest.registrations)
