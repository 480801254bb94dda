"""Fingerprints of raw lines in a header format no benchmark has, shared by workers (issue 15).

Small synthetic streams, not benchmark files: a log4j-style layout whose thread names have a
variable number of words (``main``, ``Reference Handler``), fed to two workers in turns, to a
worker that joins later and to one started after a "restart".
"""

from __future__ import annotations

import json
import random

import pytest
import redis

from knowledge.fingerprint import Fingerprinter
from knowledge.logheader import HeaderLayout, HeaderModel
from tests.knowledge.lockless import CountingRedis

NAMESPACE = "test:fp:workers"
THREADS = ["main", "Reference Handler", "pool-2-thread-1", "Signal Dispatcher"]
EVENTS = [
    "charge {n} failed for card ending {n}",
    "user {n} logged in from 10.0.{n}.7",
    "cache miss for key session:{n} after {n} ms",
    "connection reset by peer",
]


def _stream(count: int, seed: int) -> tuple[list[str], list[int], list[str]]:
    r = random.Random(seed)
    lines, events, messages = [], [], []
    for i in range(count):
        event = r.randrange(len(EVENTS))
        message = EVENTS[event].format(n=r.randint(1, 9999))
        level = r.choice(["INFO ", "WARN ", "ERROR"])
        stamp = f"2024-03-01 10:{i // 60 % 60:02d}:{i % 60:02d},{r.randint(0, 999):03d}"
        lines.append(f"{stamp} {level} {r.choice(THREADS)} - {message}")
        events.append(event)
        messages.append(message)
    return lines, events, messages


def _by_event(results, events) -> dict[int, set[str]]:
    seen: dict[int, set[str]] = {}
    for result, event in zip(results, events, strict=True):
        seen.setdefault(event, set()).add(result.fingerprint)
    return seen


@pytest.fixture
def client(clean_redis: redis.Redis) -> redis.Redis:
    return clean_redis


def test_two_workers_taking_turns_agree_on_an_unseen_format(client: redis.Redis):
    lines, events, messages = _stream(600, seed=1)
    workers = [Fingerprinter(client, namespace=NAMESPACE) for _ in range(2)]
    results = []
    for turn, offset in enumerate(range(0, len(lines), 50)):
        batch = lines[offset : offset + 50]
        results += workers[turn % 2].fingerprint_lines(batch, service="billing")
    assert [r.message for r in results] == messages  # the header is set aside
    fingerprints = _by_event(results, events)
    assert all(len(fps) == 1 for fps in fingerprints.values()), fingerprints
    assert len(set.union(*fingerprints.values())) == len(EVENTS)


def test_a_restarted_worker_gives_the_same_fingerprints(client: redis.Redis):
    lines, events, _ = _stream(400, seed=2)
    first = Fingerprinter(client, namespace=NAMESPACE)
    before = _by_event(first.fingerprint_lines(lines, service="billing"), events)
    fresh, fresh_events, fresh_messages = _stream(200, seed=3)  # new values, same events
    restarted = Fingerprinter(client, namespace=NAMESPACE)
    results = restarted.fingerprint_lines(fresh, service="billing")
    assert [r.message for r in results] == fresh_messages
    assert _by_event(results, fresh_events) == before


def test_a_new_worker_reads_the_learned_state_in_one_round_trip_and_takes_no_lock(
    client: redis.Redis, monkeypatch
):
    lines, events, _ = _stream(400, seed=4)
    expected = Fingerprinter(client, namespace=NAMESPACE).fingerprint_lines(
        lines, service="billing"
    )
    calls: list[str] = []

    joining = Fingerprinter(client, namespace=NAMESPACE)
    monkeypatch.setattr(joining, "redis", CountingRedis(client, calls))
    assert joining.fingerprint_lines(lines, service="billing") == expected
    assert calls == ["pipeline"]  # state, version and the header layout together


def test_a_layout_stored_before_rules_were_versioned_still_splits_as_it_did(
    client: redis.Redis,
):
    # Fitted by the rules before version 2: a one-letter logcat level, an aligned component.
    stored = {
        "logcat": (["time", "time", "num", "num", "level"], []),
        "cbs": (["time", "time", "level"], ["aligned"]),
    }
    for service, (columns, tails) in stored.items():
        layout = {"columns": columns, "tails": tails, "delimiter": "", "fields": 0}
        client.set(f"{NAMESPACE}:header-layout:{service}", json.dumps(layout))
    worker = Fingerprinter(client, namespace=NAMESPACE)
    logcat = "03-17 16:13:38.811  1702  2395 D WindowManager: focus changed to 7"
    assert worker.split_header(logcat, service="logcat") == "WindowManager: focus changed to 7"
    cbs = "2016-09-28 04:30:31, Info                  CBS    Ending TrustedInstaller init."
    assert worker.split_header(cbs, service="cbs") == "Ending TrustedInstaller init."
    # Fitted today, the same lines keep those words: the rules are gone for new services.
    assert HeaderModel().fit([cbs] * 20).split(cbs).message.startswith("CBS")


def test_a_line_whose_first_split_fails_gets_the_whole_patterns_split():
    # Read as a bracketed field, "[a b]" leaves no number for the third column; read as two
    # plain tokens it fits. Matching by parts must find the same split as the whole pattern.
    model = HeaderModel.from_layout(HeaderLayout(columns=["free", "free", "num"]))
    assert model.split("[a b] 5 disk full").message == "disk full"
    assert model.split("[a b] c 5 disk full").message == "disk full"
