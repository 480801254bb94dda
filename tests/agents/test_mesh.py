"""The event mesh against the real Redis: at-least-once, idempotent, dead letters, replay."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.db import connection

from agents import mesh
from agents.events import parse_event
from agents.mesh import DEAD_LETTER_STREAM, StreamConsumer
from tests.agents import mesh_handlers
from tests.support import process_env

ROOT = Path(__file__).resolve().parents[2]


def work_event(n: int, **payload):
    return parse_event({"type": "custom.work", "source": "test", "payload": {"n": n, **payload}})


def drain(consumer: StreamConsumer, until, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, "condition not reached in time"
        consumer.poll(block_ms=20)


def test_publish_many_appends_each_event_to_its_type_stream(clean_redis):
    events = [work_event(i) for i in range(3)] + [
        parse_event({"type": "custom.other", "source": "test"})
    ]

    ids = mesh.publish_many(events)

    assert len(ids) == 4
    assert clean_redis.xlen("events:custom.work") == 3
    assert clean_redis.xlen("events:custom.other") == 1
    assert mesh.known_streams() == ["events:custom.other", "events:custom.work"]


def test_publish_many_returns_each_events_own_entry_id_when_types_interleave(clean_redis):
    # One script call per stream: the ids must still come back in the batch's order.
    events = [
        work_event(i) if i % 3 else parse_event({"type": "custom.other", "source": "test"})
        for i in range(9)
    ]

    ids = mesh.publish_many(events)

    for event, entry_id in zip(events, ids, strict=True):
        ((_, fields),) = clean_redis.xrange(event.stream, entry_id, entry_id)
        assert fields[b"id"].decode() == event.id
        assert fields[b"e"] == event.to_json_bytes()
    work_ids = [i for e, i in zip(events, ids, strict=True) if e.type == "custom.work"]
    assert work_ids == sorted(work_ids, key=lambda i: tuple(map(int, i.split("-"))))


def test_a_delivery_read_from_the_stream_cannot_be_changed_by_a_handler(clean_redis):
    seen = []
    consumer = StreamConsumer("g", ["events:custom.work"], seen.extend)
    mesh.publish(work_event(1))
    drain(consumer, lambda: len(seen) == 1)

    with pytest.raises(AttributeError):
        seen[0].event_id = "other"
    assert seen[0].event.payload == {"n": 1}


def test_duplicates_in_one_batch_and_across_done_buckets_are_handled_once(clean_redis):
    seen = []
    consumer = StreamConsumer("g", ["events:custom.work"], seen.extend)
    old = parse_event(
        {
            "type": "custom.work",
            "source": "test",
            "id": "00000OLDEVENT0000000000000",
            "payload": {"n": 0},
        }
    )  # fmt: skip  (a done set of its own bucket)
    mesh.publish_many([old, work_event(1)])
    drain(consumer, lambda: len(seen) == 2)

    again = work_event(2)
    mesh.publish_many([old, again, again, work_event(3)])  # two buckets in one batch
    drain(consumer, lambda: len(seen) == 4)
    consumer.poll(block_ms=50)

    assert [d.event.payload["n"] for d in seen] == [0, 1, 2, 3]
    assert clean_redis.xpending("events:custom.work", "g")["pending"] == 0


def test_a_group_gets_every_event_once_and_acknowledges_it(clean_redis):
    seen = []
    consumer = StreamConsumer("g", ["events:custom.work"], seen.extend, consumer="c1")
    mesh.publish_many([work_event(i) for i in range(250)])

    drain(consumer, lambda: len(seen) == 250)
    consumer.flush()  # the last batch's acks would otherwise ride with the next read

    assert [d.event.payload["n"] for d in seen] == list(range(250))
    assert clean_redis.xpending("events:custom.work", "g")["pending"] == 0


def test_two_groups_each_get_every_event(clean_redis):
    first, second = [], []
    a = StreamConsumer("monitor", ["events:custom.work"], first.extend)
    b = StreamConsumer("diagnostic", ["events:custom.work"], second.extend)
    mesh.publish_many([work_event(i) for i in range(10)])

    drain(a, lambda: len(first) == 10)
    drain(b, lambda: len(second) == 10)


def test_an_event_id_published_twice_is_handled_once(clean_redis):
    seen = []
    consumer = StreamConsumer("g", ["events:custom.work"], seen.extend)
    event = work_event(1)
    mesh.publish(event)
    drain(consumer, lambda: len(seen) == 1)

    mesh.publish(event)  # a client retry, or a re-drive of a dead letter
    consumer.poll(block_ms=50)
    consumer.flush()

    assert len(seen) == 1
    assert clean_redis.xpending("events:custom.work", "g")["pending"] == 0


def test_done_sets_outlive_the_retention_window(clean_redis, settings):
    seen = []
    consumer = StreamConsumer("g", ["events:custom.work"], seen.extend)
    mesh.publish_many([work_event(i) for i in range(3)])
    drain(consumer, lambda: len(seen) == 3)
    consumer.flush()

    (key,) = clean_redis.keys("aiops:done:g:*")
    assert clean_redis.scard(key) == 3
    assert clean_redis.ttl(key) > settings.EVENT_RETENTION_HOURS * 3600


def test_entries_of_a_dead_consumer_are_reclaimed_after_the_idle_timeout(clean_redis):
    mesh.publish_many([work_event(i) for i in range(5)])
    # "c-dead" reads the entries and dies without acknowledging them.
    clean_redis.xgroup_create("events:custom.work", "g", id="0")
    clean_redis.xreadgroup("g", "c-dead", {"events:custom.work": ">"}, count=5)
    seen = []
    survivor = StreamConsumer("g", ["events:custom.work"], seen.extend, claim_idle_ms=1000)

    survivor.poll(block_ms=10)
    assert seen == []  # not idle long enough yet: the owner may still be working
    time.sleep(1.05)
    drain(survivor, lambda: len(seen) == 5)

    assert clean_redis.xpending("events:custom.work", "g")["pending"] == 0


def test_a_dead_local_consumers_entries_are_taken_over_at_once(clean_redis):
    mesh.publish_many([work_event(i) for i in range(5)])
    # A worker of this host read the entries and was SIGKILLed (its pid is gone now).
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead = f"{socket.gethostname()}-{gone.pid}"
    clean_redis.xgroup_create("events:custom.work", "g", id="0")
    clean_redis.xreadgroup("g", dead, {"events:custom.work": ">"}, count=5)
    # A live consumer elsewhere, and one named some other way, keep theirs.
    mesh.publish_many([work_event(i) for i in range(5, 7)])
    clean_redis.xreadgroup("g", "other-host-1", {"events:custom.work": ">"}, count=1)
    clean_redis.xreadgroup("g", "c-named", {"events:custom.work": ">"}, count=1)
    seen = []

    restarted = StreamConsumer("g", ["events:custom.work"], seen.extend)  # claim idle: 30 s
    drain(restarted, lambda: len(seen) == 5, timeout=5)

    assert sorted(d.event.payload["n"] for d in seen) == [0, 1, 2, 3, 4]
    assert all(d.redelivered for d in seen)
    consumers = {c["name"].decode() for c in clean_redis.xinfo_consumers("events:custom.work", "g")}
    assert dead not in consumers  # tidied away
    assert {"other-host-1", "c-named"} <= consumers
    assert clean_redis.xpending("events:custom.work", "g")["pending"] == 2


def test_a_poisoned_event_is_dead_lettered_after_n_tries_while_the_rest_flows(clean_redis):
    handled = []

    def handler(deliveries):
        if any(d.event.payload.get("poison") for d in deliveries):
            raise ValueError("cannot digest this one")
        handled.extend(deliveries)

    consumer = StreamConsumer(
        "g", ["events:custom.work"], handler, claim_idle_ms=20, max_deliveries=3
    )
    mesh.publish_many([work_event(0), work_event(1, poison=True), work_event(2)])
    drain(consumer, lambda: clean_redis.xlen(DEAD_LETTER_STREAM) == 1)
    mesh.publish(work_event(3))
    drain(consumer, lambda: len(handled) == 3)
    consumer.flush()

    assert sorted(d.event.payload["n"] for d in handled) == [0, 2, 3]
    [letter] = mesh.dead_letters()
    assert letter.event.payload == {"n": 1, "poison": True}
    assert letter.group == "g" and letter.stream == "events:custom.work"
    assert letter.failures == 3
    assert "ValueError: cannot digest this one" in letter.error
    assert clean_redis.xpending("events:custom.work", "g")["pending"] == 0


def test_dead_letters_can_be_redriven_to_their_stream(clean_redis):
    attempts = {"count": 0}
    handled = []

    def flaky(deliveries):
        attempts["count"] += 1
        if attempts["count"] <= 2:
            raise ConnectionError("downstream unavailable")
        handled.extend(deliveries)

    consumer = StreamConsumer(
        "g", ["events:custom.work"], flaky, claim_idle_ms=20, max_deliveries=1
    )
    mesh.publish(work_event(7))
    drain(consumer, lambda: clean_redis.xlen(DEAD_LETTER_STREAM) == 1)

    assert mesh.redrive_dead_letters() == 1
    drain(consumer, lambda: len(handled) == 1)

    assert clean_redis.xlen(DEAD_LETTER_STREAM) == 0
    assert handled[0].event.payload == {"n": 7}


def test_replay_reads_a_stream_from_a_point_in_time(clean_redis):
    mesh.publish_many([work_event(i) for i in range(3)])
    time.sleep(0.01)
    middle = datetime.now(UTC)
    time.sleep(0.01)
    mesh.publish_many([work_event(i) for i in range(3, 2503)])

    replayed = list(mesh.replay("custom.work", since=middle, chunk=1000))

    assert [d.event.payload["n"] for d in replayed] == list(range(3, 2503))
    assert replayed[0].event.timestamp.tzinfo is not None


def test_replay_refuses_naive_times():
    with pytest.raises(ValueError, match="time-zone aware"):
        list(mesh.replay("custom.work", since=datetime(2026, 1, 1)))  # noqa: DTZ001


def test_trim_drops_entries_older_than_the_retention_window(clean_redis):
    old_ms = int((datetime.now(UTC) - timedelta(hours=5)).timestamp() * 1000)
    for i in range(200):
        clean_redis.xadd("events:custom.work", {"e": work_event(i).to_json()}, id=f"{old_ms}-{i}")
    clean_redis.sadd(mesh.STREAM_INDEX_KEY, "events:custom.work")
    mesh.publish(work_event(999))

    mesh.trim_streams(retention=timedelta(hours=1))

    remaining = [d.event.payload["n"] for d in mesh.replay("custom.work")]
    # Approximate trimming works on whole radix-tree nodes; a full old node is gone, new stays.
    assert 999 in remaining
    assert len(remaining) < 201


def _consumer_process(group: str, name: str, handler: str = "record_effects") -> subprocess.Popen:
    env = process_env()
    return subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "consume_events",
            "--group",
            group,
            "--types",
            "custom.work",
            "--handler",
            f"tests.agents.mesh_handlers.{handler}",
            "--consumer",
            name,
            "--batch-size",
            "50",
            "--claim-idle-ms",
            "1000",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _count(sql: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]


def _wait_for(condition, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(proc.stderr.read().decode()[-3000:])
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


@pytest.mark.django_db(transaction=True)
def test_sigkilled_consumer_loses_nothing_and_nothing_takes_effect_twice(clean_redis):
    mesh_handlers.create_tables()
    total = 2000
    mesh.publish_many([work_event(i) for i in range(total)])

    first = _consumer_process("effects", "first", handler="record_effects_then_die")
    try:
        assert first.wait(60) == -signal.SIGKILL
    finally:
        if first.poll() is None:
            first.kill()
    stored_when_killed = _count("SELECT count(*) FROM mesh_test_effects")
    assert stored_when_killed < total  # it really died mid-stream

    second = _consumer_process("effects", "second")
    try:
        _wait_for(
            lambda: (
                _count("SELECT count(*) FROM mesh_test_effects") == total
                and clean_redis.xpending("events:custom.work", "effects")["pending"] == 0
            ),
            90,
            second,
        )
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(10)

    assert _count("SELECT count(DISTINCT event_id) FROM mesh_test_calls") == total
    # The killed batch was delivered again (at-least-once) but stored once (idempotent).
    assert _count("SELECT count(*) FROM mesh_test_calls") > total
    assert _count("SELECT count(*) FROM mesh_test_effects") == total


@pytest.mark.django_db  # /metrics also reads the knowledge graph's size at scrape time
def test_metrics_show_published_events_group_lag_and_dead_letters(client, clean_redis):
    mesh.publish_many([work_event(i) for i in range(3)])
    clean_redis.xgroup_create("events:custom.work", "slow-agent", id="0")
    clean_redis.xreadgroup("slow-agent", "c1", {"events:custom.work": ">"}, count=2)

    body = client.get("/metrics").content.decode()

    assert 'ai_ops_events_published_total{type="custom.work"}' in body
    assert 'ai_ops_stream_pending{group="slow-agent",stream="events:custom.work"} 2.0' in body
    assert 'ai_ops_stream_length{stream="events:custom.work"} 3.0' in body
    assert "ai_ops_dead_letters_waiting 0.0" in body
