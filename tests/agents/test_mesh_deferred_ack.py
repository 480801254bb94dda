"""The deferred ack against the real Redis: a batch's mark-done and XACK ride in front of the
next read, a stop sends them, and a crash in between loses nothing."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
import redis
from django.conf import settings
from django.db import connection

from agents import mesh
from agents.mesh import StreamConsumer
from tests.agents import mesh_handlers
from tests.agents.test_mesh import ROOT, work_event
from tests.support import process_env

STREAM = "events:custom.work"


class CountingConnection(redis.Connection):
    """A real connection that counts what it writes: one write is one round trip."""

    writes = 0

    def send_packed_command(self, command, check_health=True):
        type(self).writes += 1
        return super().send_packed_command(command, check_health)


def pending(client: redis.Redis, group: str = "g") -> int:
    return client.xpending(STREAM, group)["pending"]


def done_ids(client: redis.Redis, group: str = "g") -> set[str]:
    return {
        m.decode() for key in client.keys(f"aiops:done:{group}:*") for m in client.smembers(key)
    }


def test_a_batch_costs_two_round_trips_and_its_acks_ride_with_the_next_read(clean_redis):
    client = redis.Redis.from_url(settings.REDIS_URL, connection_class=CountingConnection)
    seen = []
    consumer = StreamConsumer("g", [STREAM], seen.extend, batch_size=100, client=client)
    events = [work_event(i) for i in range(500)]
    mesh.publish_many(events)
    consumer.poll(block_ms=10)  # the first poll also looks for abandoned entries

    assert len(seen) == 100
    assert pending(clean_redis) == 100  # handled, not yet acknowledged
    assert done_ids(clean_redis) == set()  # nor marked done: both wait for the next read

    CountingConnection.writes = 0
    for _ in range(4):
        consumer.poll(block_ms=10)

    assert len(seen) == 500
    assert CountingConnection.writes == 8  # per batch: read (+ last acks), done-set check
    assert pending(clean_redis) == 100  # only the batch just handled
    assert done_ids(clean_redis) == {e.id for e in events[:400]}

    CountingConnection.writes = 0
    assert consumer.poll(block_ms=10) == 0  # nothing new: the read carried the acks anyway

    assert CountingConnection.writes == 1
    assert pending(clean_redis) == 0
    assert done_ids(clean_redis) == {e.id for e in events}


def test_a_clean_stop_leaves_nothing_pending(clean_redis):
    seen = []
    consumer = StreamConsumer("g", [STREAM], seen.extend, batch_size=100)
    mesh.publish_many([work_event(i) for i in range(250)])

    handled = consumer.run(lambda: len(seen) >= 250, block_ms=10)

    assert handled == 250
    assert pending(clean_redis) == 0
    assert len(done_ids(clean_redis)) == 250


def test_a_consume_events_process_stopped_right_after_a_batch_leaves_nothing_pending(
    clean_redis,
):
    mesh.publish_many([work_event(i) for i in range(119)] + [work_event(119, last=True)])

    done = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "consume_events",
            "--group",
            "g",
            "--types",
            "custom.work",
            "--handler",
            "tests.agents.mesh_handlers.stop_at_last",
            "--batch-size",
            "50",
        ],
        cwd=ROOT,
        env=process_env(),
        capture_output=True,
        timeout=60,
        check=False,
    )  # fmt: skip  (the handler SIGTERMs its own process after the third batch)

    assert done.returncode == 0, done.stderr.decode()[-3000:]
    assert "stopped after 120 events" in done.stdout.decode()
    assert pending(clean_redis) == 0
    assert len(done_ids(clean_redis)) == 120


def test_a_batch_whose_handler_outlived_the_claim_timeout_is_not_reclaimed_by_itself(
    clean_redis,
):
    calls = []

    def slow(deliveries):
        calls.extend(d.event_id for d in deliveries)
        time.sleep(0.3)  # longer than the claim timeout below

    consumer = StreamConsumer("g", [STREAM], slow, batch_size=10, claim_idle_ms=200)
    mesh.publish_many([work_event(i) for i in range(10)])
    consumer.poll(block_ms=10)
    assert clean_redis.xpending_range(STREAM, "g", "-", "+", 10, idle=200)  # idle, unacked

    consumer.poll(block_ms=10)  # a reclaim is due: the acks go out first

    assert len(calls) == len(set(calls)) == 10
    assert pending(clean_redis) == 0


def _count(sql: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]


# Handles one batch, says so, and waits to be killed before its next read.
ONE_BATCH_THEN_HANG = """
import django, time
django.setup()
from agents.mesh import StreamConsumer
from tests.agents.mesh_handlers import record_effects
StreamConsumer("effects", ["events:custom.work"], record_effects, batch_size=50).poll(block_ms=100)
print("handled", flush=True)
time.sleep(60)
"""


@pytest.mark.django_db(transaction=True)
def test_a_sigkill_between_handling_and_the_deferred_ack_loses_nothing(clean_redis):
    mesh_handlers.create_tables()
    total = 200
    mesh.publish_many([work_event(i) for i in range(total)])
    child = subprocess.Popen(
        [sys.executable, "-c", ONE_BATCH_THEN_HANG],
        cwd=ROOT, env=process_env(DJANGO_SETTINGS_MODULE="aiops_site.settings"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        line = child.stdout.readline()
        assert line == b"handled\n", child.stderr.read().decode()[-3000:]
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    # Its effects are stored; neither the mark-done nor the ack went out.
    assert _count("SELECT count(*) FROM mesh_test_effects") == 50
    assert pending(clean_redis, "effects") == 50
    assert done_ids(clean_redis, "effects") == set()

    # A restarted worker on this host takes the dead one's entries over at once.
    restarted = StreamConsumer("effects", [STREAM], mesh_handlers.record_effects, batch_size=50)
    deadline = time.monotonic() + 30
    while _count("SELECT count(*) FROM mesh_test_effects") < total:
        assert time.monotonic() < deadline, "the backlog did not drain"
        restarted.poll(block_ms=10)
    restarted.flush()

    assert pending(clean_redis, "effects") == 0
    assert len(done_ids(clean_redis, "effects")) == total
    # The killed batch was handled again (at least once), its effects stored once.
    assert _count("SELECT count(*) FROM mesh_test_calls") == total + 50
    assert _count("SELECT count(DISTINCT event_id) FROM mesh_test_calls") == total
    assert _count("SELECT count(*) FROM mesh_test_effects") == total
