"""The live path groups as the offline second pass does (issue 15, point 3), on real Redis.

Families of drain3 clusters, routes with a many-valued segment and lines seen while a
service's header was still being learned: the shared ``Fingerprinter`` applies the rules of
``knowledge.logfinal`` forward-only, so a fingerprint once handed out keeps its meaning and
every worker, and a restarted one, answers alike.
"""

from __future__ import annotations

import json
import zlib
from collections import defaultdict

import redis

from benchmarks.logformats import generate
from knowledge.fingerprint import Fingerprinter
from knowledge.fingerprint_state import SharedState
from knowledge.loghub_crossval import mine_lines
from knowledge.logparse import MAX_WORD_VALUES, SIM_TH, TemplateMiner
from tests.knowledge.lockless import CountingRedis

NAMESPACE = "test:fp:families"
USERS = ["alice", "bob", "carol", "dave", "erin", "frank"]


def _login(user: str, n: int) -> str:
    # No key word (``user``, ``by``) before the name: only the many-values rule joins them.
    return f"account {user} logged in from 10.0.{n}.7"


def test_two_workers_and_a_restart_agree_on_a_family_fingerprint(clean_redis: redis.Redis):
    workers = [Fingerprinter(clean_redis, namespace=NAMESPACE) for _ in range(2)]
    early = [
        workers[n % 2].fingerprint_message(_login(user, n)) for n, user in enumerate(USERS * 2)
    ]
    assert len({r.cluster_id for r in early}) > 1  # drain3's prefix tree splits the names
    family = early[-1].fingerprint
    # Every earlier fingerprint now resolves to the family's, in every worker.
    for result in early:
        for worker in workers:
            assert worker.resolve_alias(result.own) == family
    restarted = Fingerprinter(clean_redis, namespace=NAMESPACE)
    late = [w.fingerprint_message(_login("zed", 99)) for w in (*workers, restarted)]
    assert late[0].cluster_id not in {r.cluster_id for r in early}  # a new drain3 cluster
    assert {r.fingerprint for r in late} == {family}
    assert {r.own for r in late} == {family}  # handed out as is, not through an alias


def test_a_late_sibling_after_a_restart_gets_the_family_fingerprint(clean_redis: redis.Redis):
    first = Fingerprinter(clean_redis, namespace=NAMESPACE)
    family = [first.fingerprint_message(_login(u, n)) for n, u in enumerate(USERS)][-1]
    restarted = Fingerprinter(clean_redis, namespace=NAMESPACE)
    for n, user in enumerate(["yann", "zoe", "quentin"]):
        late = restarted.fingerprint_message(_login(user, 50 + n))
        assert (late.fingerprint, late.own) == (family.fingerprint, family.fingerprint)
        assert late.template == "account <*> logged in from <*>"
    # Short messages keep their differing word: it is as often the event's name (logfinal).
    short = {
        first.fingerprint_message(f"{key} set to {n}").fingerprint for n, key in enumerate(USERS)
    }
    assert len(short) == len(USERS)


def test_routes_with_a_many_valued_segment_share_a_fingerprint(clean_redis: redis.Redis):
    worker = Fingerprinter(clean_redis, namespace=NAMESPACE)
    slugs = ["x7k2m9q4p1", "intro", "release", "8fj3k2l9zz", "pricing", "roadmap", "hiring"]
    messages = [
        f'"GET /blog/{slug} HTTP/1.1" 200 "-" "curl/8.{n}.0"' for n, slug in enumerate(slugs)
    ]
    messages += [f'"GET /{page} HTTP/1.1" 200 "-" "curl/8.1.0"' for page in ("login", "cart")]
    online = [worker.fingerprint_message(m) for m in messages]
    miner = TemplateMiner()
    offline = miner.final_cluster_ids([miner.add_message(m) for m in messages])
    resolved = [worker.resolve_alias(r.own) for r in online]
    assert len(set(zip(resolved, offline, strict=True))) == len(set(offline)) == 3
    blog = resolved[len(slugs) - 1]
    restarted = Fingerprinter(clean_redis, namespace=NAMESPACE)
    late = restarted.fingerprint_message('"GET /blog/unannounced HTTP/1.1" 200 "-" "curl/8.3.0"')
    assert (late.fingerprint, late.own) == (blog, blog)  # no new key: the pattern covers it
    again = restarted.fingerprint_message('"GET /login HTTP/1.1" 200 "-" "curl/8.4.0"')
    assert again.fingerprint == resolved[-2] != blog


def test_online_grouping_of_an_access_log_matches_the_offline_grouping(clean_redis: redis.Redis):
    rows = generate("AccessLog")  # the corpus `make bench` scores (2,000 lines)
    lines = [raw for raw, *_ in rows]
    worker = Fingerprinter(clean_redis, namespace=NAMESPACE)
    handed = [worker.fingerprint_line(line, service="nginx").fingerprint for line in lines]
    online = [worker.resolve_alias(fingerprint) for fingerprint in handed]
    offline = mine_lines(lines, sim_th=SIM_TH, max_word_values=MAX_WORD_VALUES)
    pairs = set(zip(online, offline, strict=True))
    # The same partition: each online group is one offline group and the other way round.
    assert len(pairs) == len(set(online)) == len(set(offline))
    by_event: dict[int, set[str]] = defaultdict(set)
    for fingerprint, (*_, event) in zip(online, rows, strict=True):
        by_event[event].add(fingerprint)
    assert all(len(fps) == 1 for fps in by_event.values()), dict(by_event)
    assert len(set(online)) == len(by_event)  # routes no longer share a group


def test_a_new_worker_answers_families_and_routes_without_the_lock(
    clean_redis: redis.Redis, monkeypatch
):
    lines = [raw for raw, *_ in generate("AccessLog", lines=1000, seed=3)]
    first = Fingerprinter(clean_redis, namespace=NAMESPACE)
    expected = [first.fingerprint_line(line, service="nginx") for line in lines]
    calls: list[str] = []

    joining = Fingerprinter(clean_redis, namespace=NAMESPACE)
    monkeypatch.setattr(joining, "redis", CountingRedis(clean_redis, calls))
    joined = joining.fingerprint_lines(lines, service="nginx")
    assert calls == ["pipeline"]  # state, version and the header layout together
    assert [(r.fingerprint, r.own) for r in joined] == [
        (first.resolve_alias(r.own), r.own) for r in expected
    ]


def test_lines_seen_while_the_header_was_learned_join_their_events(clean_redis: redis.Redis):
    rows = generate("PipeFields", lines=600, seed=7)
    worker = Fingerprinter(clean_redis, namespace=NAMESPACE)
    handed = [worker.fingerprint_line(raw, service="device").fingerprint for raw, *_ in rows]
    resolved: dict[int, set[str]] = defaultdict(set)
    for fingerprint, (*_, event) in zip(handed, rows, strict=True):
        resolved[event].add(worker.resolve_alias(fingerprint))
    assert all(len(fps) == 1 for fps in resolved.values()), dict(resolved)
    assert len(set.union(*resolved.values())) == len(resolved)
    assert not clean_redis.exists(f"{NAMESPACE}:provisional:device")  # merged, then dropped


def test_a_state_saved_before_families_still_loads(clean_redis: redis.Redis):
    old = Fingerprinter(clean_redis, namespace=NAMESPACE)
    before = [old.fingerprint_message(_login(u, n)) for n, u in enumerate(USERS[:3])]
    document = json.loads(zlib.decompress(clean_redis.get(f"{NAMESPACE}:state")))
    document["format"] = 1  # as written before families and routes were kept
    del document["families"]
    clean_redis.set(f"{NAMESPACE}:state", zlib.compress(json.dumps(document).encode()))
    assert SharedState.loads(clean_redis.get(f"{NAMESPACE}:state"), 1).families.family == {}
    upgraded = Fingerprinter(clean_redis, namespace=NAMESPACE)
    again = [upgraded.fingerprint_message(_login(u, n + 20)) for n, u in enumerate(USERS[:3])]
    assert [r.fingerprint for r in again] == [r.fingerprint for r in before]
