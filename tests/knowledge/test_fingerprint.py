"""Fingerprints: masking, stability across restarts and workers, generalisation, merges."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from knowledge import fingerprint
from knowledge.fingerprint import Fingerprinter, template_fingerprint
from knowledge.logmask import mask

REPO = Path(__file__).resolve().parents[2]

# Each worker fingerprints these in its own order; the overlap must agree everywhere.
WORKER_MESSAGES = [
    "Import job {n} timed out after {n}s while processing chrome bookmarks",
    "Lost connection to db-{host} after {n} retries",
    'duplicate key value violates unique constraint "bookmarks_user_url_key" id={n}',
    "Failed to fetch favicon from https://site{n}.example.com/favicon.ico: 429",
    "Worker pid {n} exceeded memory limit of {n} MB",
    "Disk full while writing /var/uploads/{n}/bookmarks.html",
    "TLS certificate for api{n}.example.com expires in {n} days",
]

WORKER_SCRIPT = """
import json, os, sys
import django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiops_site.settings")
django.setup()
from core.redis import get_redis
from knowledge.fingerprint import Fingerprinter
templates = json.loads(sys.argv[1]); seed = int(sys.argv[2])
f = Fingerprinter(get_redis(), namespace=sys.argv[3])
out = {}
order = templates if seed % 2 else list(reversed(templates))
for round_ in range(3):
    for i, t in enumerate(order):
        n = seed * 1000 + round_ * 10 + i
        msg = t.format(n=n, host=("primary", "replica", "backup")[(n + seed) % 3])
        out.setdefault(t, set()).add(f.fingerprint_message(msg).fingerprint)
print(json.dumps({k: sorted(v) for k, v in out.items()}))
"""


@pytest.fixture
def client(clean_redis: redis.Redis) -> redis.Redis:
    return clean_redis


@pytest.fixture
def fingerprinter(client: redis.Redis) -> Fingerprinter:
    return Fingerprinter(client, namespace="test:fp")


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("retry 3 of 10", "retry <NUM> of <NUM>"),
        ("bad pointer 0x7ffe12ab", "bad pointer <HEX>"),
        ("job 123e4567-e89b-12d3-a456-426614174000 lost", "job <UUID> lost"),
        ("from 10.0.12.7:5432 refused", "from <IP> refused"),
        ("from fe80::1ff:fe23:4567:890a refused", "from <IP> refused"),
        ("GET https://api.example.com/v1/items?id=7 failed", "GET <URL> failed"),
        ("open /var/lib/app/data.db failed", "open <PATH> failed"),
        ("mail to ada@example.com bounced", "mail to <EMAIL> bounced"),
        ("at 2026-01-31 12:00:05,123 stalled", "at <TS> stalled"),
        ("at 2026-01-31T12:00:05 stalled", "at <TS> stalled"),
        ("uploaded 12 MB in 300 ms", "uploaded <SIZE> in <SIZE>"),
        ("block blk_-1608 blk_1609 blk_1610 lost", "block blk_<NUM> lost"),
        ("digest 9f86d081884c7d65 mismatch", "digest <HEX> mismatch"),
    ],
)
def test_masking_replaces_variable_tokens(message: str, expected: str):
    assert mask(message) == expected


def test_values_do_not_change_the_fingerprint_but_words_do(fingerprinter: Fingerprinter):
    a = fingerprinter.fingerprint_message("Import job 17 timed out after 300s on 10.0.0.1")
    b = fingerprinter.fingerprint_message("Import job 99 timed out after 45s on 10.0.0.2")
    c = fingerprinter.fingerprint_message("Import job 17 finished after 300s on 10.0.0.1")
    assert a.fingerprint == b.fingerprint
    assert len(a.fingerprint) == 16
    assert a.fingerprint != c.fingerprint
    assert a.fingerprint == template_fingerprint(a.template)  # sha1 of the first template


def test_the_fingerprint_survives_a_restart(client: redis.Redis):
    first = Fingerprinter(client, namespace="test:fp").fingerprint_message(
        "Lost connection to db-primary after 3 retries"
    )
    restarted = Fingerprinter(client, namespace="test:fp")
    again = restarted.fingerprint_message("Lost connection to db-primary after 7 retries")
    assert again.fingerprint == first.fingerprint
    assert again.cluster_id == first.cluster_id


def test_generalisation_keeps_the_fingerprint(fingerprinter: Fingerprinter):
    first = fingerprinter.fingerprint_message("Lost connection to db-primary after 3 retries")
    other = fingerprinter.fingerprint_message("Lost connection to db-replica after 5 retries")
    assert "db-primary" in first.template
    assert "<*>" in other.template.split()[3]  # drain3 generalised the host
    assert other.fingerprint == first.fingerprint
    later = Fingerprinter(fingerprinter.redis, namespace="test:fp").fingerprint_message(
        "Lost connection to db-primary after 9 retries"
    )
    assert later.fingerprint == first.fingerprint


def test_a_word_that_takes_many_values_merges_its_fingerprints(fingerprinter: Fingerprinter):
    # No key word before the name and no name-shaped value: nothing says "value" early.
    users = ["alice", "bob", "carol", "dave", "erin", "frank"]
    results = [
        fingerprinter.fingerprint_message(f"Failed login for account {u} from 10.0.0.1")
        for u in users
    ]
    early = [r.own for r in results[:4]]
    assert len(set(early)) == 4  # distinct words: distinct kinds, at first
    # The fifth name makes the word a parameter: the family keeps the first fingerprint
    # handed out, and the others are aliased to it.
    merged = results[-1].fingerprint
    assert merged == results[0].own == results[4].fingerprint
    assert "account <*> from" in results[-1].template
    aliases = fingerprinter.aliases()
    assert merged not in aliases
    for old in early[1:]:
        assert aliases[old] == merged
        assert fingerprinter.resolve_alias(old) == merged
        assert (
            fingerprint.Fingerprinter(fingerprinter.redis, namespace="test:fp").resolve_alias(old)
            == merged
        )
    again = fingerprinter.fingerprint_message("Failed login for account alice from 10.0.0.9")
    assert again.fingerprint == merged
    assert again.template == results[-1].template  # the kept fingerprint's template widened


def test_resolve_alias_of_an_unmerged_fingerprint_is_itself(fingerprinter: Fingerprinter):
    assert fingerprinter.resolve_alias("0123456789abcdef") == "0123456789abcdef"


def test_lines_are_fingerprinted_without_their_header(fingerprinter: Fingerprinter):
    lines = [
        f"2026-01-31 12:00:{s:02d},{s * 7:03d} ERROR [worker-{s}] importer: "
        f"Import job {s} timed out after {s * 10}s"
        for s in range(40)
    ]
    results = fingerprinter.fingerprint_lines(lines, service="import-worker")
    assert {r.fingerprint for r in results} == {results[0].fingerprint}
    assert results[5].message == "Import job 5 timed out after 50s"
    bare = fingerprinter.fingerprint_message("Import job 77 timed out after 5s")
    assert bare.fingerprint == results[0].fingerprint


def test_repeats_are_served_from_the_process_cache(fingerprinter: Fingerprinter, monkeypatch):
    fingerprinter.cache_check_seconds = 3600
    first = fingerprinter.fingerprint_message("Redis OOM at 10.0.0.1: used 512 MB")
    calls: list[str] = []
    real = fingerprinter.redis

    class Counting:
        def __getattr__(self, name: str):
            calls.append(name)
            return getattr(real, name)

    monkeypatch.setattr(fingerprinter, "redis", Counting())
    again = fingerprinter.fingerprint_message("Redis OOM at 10.0.0.2: used 768 MB")
    assert again.fingerprint == first.fingerprint
    assert calls == []


def test_two_workers_agree_on_fingerprints(client: redis.Redis):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    args = [json.dumps(WORKER_MESSAGES)]
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER_SCRIPT, *args, str(seed), "test:fp:workers"],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in (1, 2)
    ]
    outputs = []
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
        outputs.append(json.loads(out.strip().splitlines()[-1]))
    first, second = outputs
    for template in WORKER_MESSAGES:
        assert len(first[template]) == 1, (template, first[template])
        assert first[template] == second[template], template
    assert len({fp for out in outputs for fps in out.values() for fp in fps}) == len(
        WORKER_MESSAGES
    )
    # A third process (a restart) sees the same fingerprints.
    third = Fingerprinter(client, namespace="test:fp:workers")
    message = WORKER_MESSAGES[0].format(n=5)
    assert [third.fingerprint_message(message).fingerprint] == first[WORKER_MESSAGES[0]]


def test_module_helpers_use_the_project_redis():
    result = fingerprint.fingerprint_message("Connection pool exhausted: 20 of 20 in use")
    assert fingerprint.fingerprint_line(
        "2026-01-31 12:00:05 ERROR Connection pool exhausted: 20 of 20 in use"
    ).template
    assert fingerprint.resolve_alias(result.fingerprint) == result.fingerprint


def test_a_new_worker_splits_headers_with_the_layout_fixed_by_the_first(client: redis.Redis):
    lines = [
        f"Mar  1 10:00:{s % 60:02d} host-{s % 3} billing[{100 + s}]: charged card {s} for {s}.50"
        for s in range(250)
    ]
    first = Fingerprinter(client, namespace="test:fp")
    for offset in range(0, len(lines), 100):
        first.fingerprint_lines(lines[offset : offset + 100], service="billing")
    # The learned sample is gone; a new worker still splits the same way, from its first line.
    client.delete("test:fp:header:billing")
    second = Fingerprinter(client, namespace="test:fp")
    result = second.fingerprint_line(lines[7], service="billing")
    assert result.message == "charged card 7 for 7.50"
    assert result.fingerprint == first.fingerprint_line(lines[8], service="billing").fingerprint
