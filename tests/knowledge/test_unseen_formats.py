"""The template miner on log formats it was never shaped on (issue 15).

Synthetic streams: eight events, each carrying values (ids, IPs, amounts, hex keys, paths,
URLs, quoted text, names glued to numbers), rendered under header layouts that appear in no
benchmark file. Each event must come out as exactly one group, with the header set aside.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict

import pytest

from knowledge.loghub_crossval import mine_lines
from knowledge.logparse import HeaderModel, TemplateMiner

EVENTS = [
    lambda r: (
        f"user {r.randint(1, 99999)} logged in from 10.{r.randint(0, 255)}.0.{r.randint(1, 254)}"
    ),
    lambda r: (
        f"charged card ending {r.randint(1000, 9999)}"
        f" for {r.randint(1, 500)}.{r.randint(10, 99)} EUR"
    ),
    lambda r: f"cache miss for key session:{r.getrandbits(48):x} after {r.randint(1, 900)} ms",
    lambda r: (
        f"wrote {r.randint(1, 10**6)} bytes"
        f" to /var/data/{r.choice('abc')}/part-{r.randint(0, 99)}.log"
    ),
    lambda r: (
        f"GET https://api.example.com/v1/items/{r.randint(1, 9999)} returned {r.choice([200, 404])}"
    ),
    lambda r: f"worker {r.choice(['alpha', 'beta', 'gamma', 'delta'])}-{r.randint(1, 9)} restarted",
    lambda r: f"queue depth is {r.randint(0, 5000)}",
    lambda r: "connection reset by peer",
]
LEVELS = ["INFO", "WARN", "ERROR", "DEBUG"]
COMPONENTS = ["billing.worker", "auth", "api.gateway", "store"]


def _line(layout: str, r: random.Random, i: int, message: str) -> str:
    ts = f"2024-03-01T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}.{r.randint(0, 999):03d}Z"
    level, component = r.choice(LEVELS), r.choice(COMPONENTS)
    if layout == "pipes":  # a made-up "<ts> | LEVEL | comp :: message"
        return f"{ts} | {level:<5} | {component} :: {message}"
    if layout == "json":
        record = {"ts": ts, "level": level.lower(), "logger": component, "msg": message}
        return json.dumps(record | {"pid": r.randint(100, 999)})
    if layout == "key=value":
        return f'ts={ts} level={level.lower()} component={component} msg="{message}" pid={i}'
    if layout == "syslog":
        host, program = f"host-{r.randint(1, 4)}", component.split(".")[0]
        clock = f"{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}"
        return f"Mar  1 {clock} {host} {program}[{r.randint(100, 9999)}]: {message}"
    if layout == "delimited":  # fields joined by "|" without spaces
        stamp = f"20240301-{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}:{r.randint(0, 999)}"
        return f"{stamp}|{component}|{r.randint(10**7, 10**8)}|{message}"
    if layout == "log4j-threads":  # %d %-5p %t - %m, thread names of one to three words
        thread = r.choice(["main", "Reference Handler", "pool-2-thread-1", "C2 CompilerThread0"])
        return f"{ts[:10]} {ts[11:23]} {level:<5} {thread} - {message}"
    assert layout == "brackets"
    return f"[{ts}] [{level}] [{component}] {message}"


def _stream(layout: str, lines: int = 600, seed: int = 7) -> tuple[list[str], list[int]]:
    r = random.Random(seed)
    events = [r.randrange(len(EVENTS)) for _ in range(lines)]
    return [_line(layout, r, i, EVENTS[e](r)) for i, e in enumerate(events)], events


@pytest.mark.parametrize(
    "layout", ["pipes", "json", "key=value", "syslog", "brackets", "delimited", "log4j-threads"]
)
def test_each_event_is_one_group_under_an_unseen_header(layout: str):
    lines, events = _stream(layout)
    clusters = mine_lines(lines, sim_th=0.6, max_word_values=4)
    groups: dict[int, set[int]] = defaultdict(set)
    for event, cluster in zip(events, clusters, strict=True):
        groups[event].add(cluster)
    assert all(len(ids) == 1 for ids in groups.values()), dict(groups)
    assert len(set(clusters)) == len(EVENTS)  # ...and no two events share a group


@pytest.mark.parametrize(
    ("layout", "expected"),
    [
        ("pipes", "queue depth is 42"),
        ("syslog", "queue depth is 42"),
        ("brackets", "queue depth is 42"),
        ("delimited", "queue depth is 42"),
        ("log4j-threads", "queue depth is 42"),
        ("key=value", "queue depth is 42"),  # logfmt: the msg field (knowledge.logstruct)
        ("json", "queue depth is 42"),
    ],
)
def test_the_header_is_learned_from_the_first_lines_and_set_aside(layout: str, expected: str):
    lines, _ = _stream(layout, lines=200)
    model = HeaderModel().fit(lines)
    r = random.Random(1)
    assert model.split(_line(layout, r, 3, "queue depth is 42")).message == expected


def test_a_timestamp_with_a_zone_is_a_header_column():
    lines = [f"2024-05-0{d}T10:00:0{d}+02:00 WARN disk {d} almost full" for d in range(1, 10)]
    model = HeaderModel().fit(lines)
    assert model.split(lines[0]).message == "disk 1 almost full"


def test_values_inside_names_do_not_split_an_event_in_the_prefix_tree():
    # drain3 routes on leading tokens; a leading token that carries a value must not open
    # one branch per value.
    miner = TemplateMiner()
    ids = {
        miner.add_message(f"shard-{n} {w} rebalanced").cluster_id
        for n, w in [(1, "eu"), (2, "eu"), (37, "eu"), (4, "eu")]
    }
    assert len(ids) == 1


def test_different_words_stay_different_events():
    miner = TemplateMiner()
    a = miner.add_message("disk 3 is full").cluster_id
    b = miner.add_message("disk 4 is empty").cluster_id
    assert a != b
