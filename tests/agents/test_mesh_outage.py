"""The mesh and a store outage: no failure counted, no new entries taken, batches after."""

from __future__ import annotations

import pytest
from django.db import OperationalError

from agents import mesh
from agents.mesh import BackendUnavailable, StreamConsumer
from tests.agents.test_mesh import work_event

STREAM = "events:custom.work"


class Store:
    """What the handler writes to; ``up`` is what the consumer's readiness probe reports."""

    def __init__(self) -> None:
        self.up = True
        self.batches: list[int] = []

    def handle(self, deliveries: list[mesh.Delivery]) -> None:
        if not self.up:
            raise OperationalError("connection refused")
        self.batches.append(len(deliveries))


def test_an_outage_leaves_one_batch_pending_uncounted_and_drains_in_batches(clean_redis):
    store = Store()
    consumer = StreamConsumer("g", [STREAM], store.handle, batch_size=100, ready=lambda: store.up)
    mesh.publish_many([work_event(i) for i in range(1000)])
    store.up = False

    with pytest.raises(BackendUnavailable):
        consumer.poll(block_ms=10)
    for _ in range(5):  # probing while the store is down reads nothing more
        with pytest.raises(BackendUnavailable):
            consumer.poll(block_ms=10)

    pending = clean_redis.xpending_range(STREAM, "g", min="-", max="+", count=1000)
    assert len(pending) == 100  # only the batch in hand; the rest waits in the stream
    assert {p["times_delivered"] for p in pending} == {1}
    assert clean_redis.hlen("aiops:failures:g") == 0  # nothing blamed on the events

    store.up = True
    while consumer.poll(block_ms=10):
        pass

    assert sum(store.batches) == 1000
    assert store.batches == [100] * 10  # whole batches, the pending one first
    assert mesh.dead_letters() == []
    assert clean_redis.xpending(STREAM, "g")["pending"] == 0


def test_a_bad_event_is_still_retried_alone_and_counted(clean_redis):
    def handler(deliveries: list[mesh.Delivery]) -> None:
        if any(d.event.payload["n"] == 2 for d in deliveries):
            raise ValueError("cannot digest this one")

    consumer = StreamConsumer("g", [STREAM], handler, batch_size=10)
    mesh.publish_many([work_event(i) for i in range(5)])

    assert consumer.poll(block_ms=10) == 4

    assert clean_redis.hlen("aiops:failures:g") == 1
