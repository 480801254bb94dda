"""Words that hold a constant part and a value (issue 15): only the value is a parameter.

A Celery task's name glued to its id (``Task shop.tasks.x[<uuid>] received``), a Java
``Class@hash``, and a route printed after a bare HTTP method (Rails' ``Started GET
"/orders/7"``, morgan's ``GET /orders/7 200``): masking takes the value and keeps the rest,
and the rest must still tell the events apart, offline and on the live path.
"""

from __future__ import annotations

import random
import uuid

import redis

from knowledge.fingerprint import Fingerprinter
from knowledge.logmask import mask
from knowledge.logparse import TemplateMiner

TASKS = ["shop.tasks.send_order_email", "shop.tasks.sync_inventory", "shop.tasks.charge_card"]


def _ids(messages: list[str]) -> list[int]:
    miner = TemplateMiner()
    return miner.final_cluster_ids([miner.add_message(m) for m in messages])


def _by_event(events: list[str], ids: list[int]) -> dict[str, set[int]]:
    out: dict[str, set[int]] = {}
    for event, cluster in zip(events, ids, strict=True):
        out.setdefault(event, set()).add(cluster)
    return out


def _task_stream(r: random.Random, n: int) -> tuple[list[str], list[str]]:
    names = [r.choice(TASKS) for _ in range(n)]
    return names, [f"Task {name}[{uuid.UUID(int=r.getrandbits(128))}] received" for name in names]


def test_a_name_glued_to_a_bracketed_id_keeps_the_name():
    assert (
        mask("Task app.tasks.x[8f1c2d3e-1111-2222-3333-444455556666] received", typed=False)
        == "Task app.tasks.x[<*>] received"
    )
    assert (
        mask("Released com.example.Pool@1a2b3c4d", typed=False) == "Released com.example.Pool@<*>"
    )
    assert mask("Worker(12) stopped", typed=False) == "Worker(<*>) stopped"


def test_tasks_named_apart_are_events_apart():
    names, messages = _task_stream(random.Random(7), 60)
    groups = _by_event(names, _ids(messages))
    assert all(len(ids) == 1 for ids in groups.values())  # one task, many ids: one event
    assert len(set().union(*groups.values())) == len(TASKS)


def test_java_objects_of_different_classes_are_events_apart():
    r = random.Random(2)
    classes = [r.choice(["com.example.Pool", "com.example.Cache"]) for _ in range(40)]
    # Integer.toHexString: a hash of letters only (``abcdef``) is no ``local@domain``.
    messages = [f"Released {name}@{r.getrandbits(32):x} after use" for name in classes]
    messages += [
        "Released com.example.Pool@abcdef after use",
        "Released com.example.Pool@1f after use",
    ]
    classes += ["com.example.Pool", "com.example.Pool"]
    groups = _by_event(classes, _ids(messages))
    assert all(len(ids) == 1 for ids in groups.values())
    assert groups["com.example.Pool"] != groups["com.example.Cache"]


def test_a_key_glued_to_its_value_by_a_colon_stays_one_value():
    # ``user:42`` / ``session:7`` (a cache key): the name before ``:`` is part of the value.
    r = random.Random(4)
    keys = ["user", "session", "cart"]
    messages = [f"cache miss for {r.choice(keys)}:{r.randint(1, 10**6)} now" for _ in range(30)]
    assert len(set(_ids(messages))) == 1


def test_a_route_after_a_bare_method_is_masked_segment_by_segment():
    assert (
        mask('Started GET "/products/12" for 10.0.0.1', typed=False)
        == 'Started GET "/products/<*>" for <*>'
    )
    assert mask("GET /orders/12 200 in 3ms", typed=False) == "GET /orders/<*> <*> in <*>"
    assert mask('| GET "/"', typed=False) == '| GET "/"'
    assert mask("GET request failed after 3 retries", typed=False) == (
        "GET request failed after <*> retries"
    )


def test_routes_after_a_bare_method_are_events_apart():
    r = random.Random(9)
    routes = [r.choice(["products", "orders"]) for _ in range(60)]
    messages = [
        f'Started GET "/{route}/{r.randint(1, 9999)}" for 10.0.{r.randint(0, 255)}.7 at noon'
        for route in routes
    ]
    groups = _by_event(routes, _ids(messages))
    assert all(len(ids) == 1 for ids in groups.values())
    assert groups["products"] != groups["orders"]


def test_a_many_valued_segment_after_a_bare_method_is_a_parameter():
    # drain3 gives each route of letters its own branch; the route slot still joins them.
    slugs = ["intro", "pricing", "roadmap", "hiring", "security", "release", "status"]
    assert len(set(_ids([f"GET /blog/{slug}" for slug in slugs]))) == 1
    assert len(set(_ids([f"GET /blog/{slug} 200" for slug in slugs]))) == 1
    assert len(set(_ids([f"GET /{page}" for page in ("about", "contact")]))) == 2


def test_the_live_path_keeps_tasks_and_routes_apart(clean_redis: redis.Redis):
    worker = Fingerprinter(clean_redis, namespace="test:fp:mixed")
    r = random.Random(11)
    names, tasks = _task_stream(r, 30)
    routes = [r.choice(["products", "orders"]) for _ in range(30)]
    started = [f'Started GET "/{route}/{r.randint(1, 9999)}" for 10.0.0.1' for route in routes]
    events = names + routes
    prints = [worker.fingerprint_message(m, service="app").fingerprint for m in tasks + started]
    aliases = worker.aliases()
    resolved = [aliases.get(p, p) for p in prints]
    groups = _by_event(events, resolved)
    assert all(len(ids) == 1 for ids in groups.values())
    assert len(set().union(*groups.values())) == len(TASKS) + 2


MANY_TASKS = [f"bookmarks.tasks.{verb}_{noun}" for verb in ("import", "sync") for noun in "abc"]
MANY_TASKS += ["bookmarks.Tasks.ReindexAll"]  # a camel-case name is code too


def test_many_task_names_in_one_slot_stay_events_apart_offline_and_live(
    clean_redis: redis.Redis,
):
    # More than MAX_WORD_VALUES code names in one slot: still one event per task.
    r = random.Random(3)
    names = [r.choice(MANY_TASKS) for _ in range(200)]
    messages = [f"Task {n}[{uuid.UUID(int=r.getrandbits(128))}] received" for n in names]
    offline = _by_event(names, _ids(messages))
    assert all(len(ids) == 1 for ids in offline.values())
    assert len(set().union(*offline.values())) == len(MANY_TASKS)
    worker = Fingerprinter(clean_redis, namespace="test:fp:tasks")
    handed = [worker.fingerprint_message(m).fingerprint for m in messages]
    live = _by_event(names, handed)  # as handed out: no merge ever needed
    assert all(len(ids) == 1 for ids in live.values())
    assert len(set().union(*live.values())) == len(MANY_TASKS)


def test_host_names_and_lone_unmarked_dotted_names_in_one_slot_still_join():
    # A host name (RFC 1123: no ``_``) glued to its address is a value once many are seen,
    # hosts of one domain too (they share an ending); a dotted name with no mark of code and
    # no sibling in its module cannot be told from a host, and joins alike.
    r = random.Random(5)
    hosts = ["mail.example.org", "smtp.gmail.com", "mx1.example.net", "relay.example.net"]
    hosts.append("mx.ya.ru")
    relays = [f"relay {h}[10.0.0.{n}] refused the connection" for n, h in enumerate(hosts * 3)]
    assert len(set(_ids(relays))) == 1
    lone = ["tasks.add", "billing.charge", "app.mailer.send", "reports.build", "search.index"]
    received = [f"Task {n}[{uuid.UUID(int=r.getrandbits(128))}] received" for n in lone * 3]
    assert len(set(_ids(received))) == 1


SIBLINGS = ["tasks.add", "tasks.mul", "tasks.xsum", "billing.charge", "billing.refund"]


def test_functions_of_one_module_stay_events_apart_offline_and_live(clean_redis: redis.Redis):
    # ``tasks.add`` and ``tasks.mul`` share their module (a code path is read from the left):
    # each is its own event however many the slot takes, as a name marked as code is.
    r = random.Random(11)
    names = [r.choice(SIBLINGS) for _ in range(200)]
    messages = [f"Task {n}[{uuid.UUID(int=r.getrandbits(128))}] received" for n in names]
    offline = _by_event(names, _ids(messages))
    assert all(len(ids) == 1 for ids in offline.values())
    assert len(set().union(*offline.values())) == len(SIBLINGS)
    worker = Fingerprinter(clean_redis, namespace="test:fp:siblings")
    handed = [worker.fingerprint_message(m).fingerprint for m in messages]
    live = _by_event(names, handed)
    assert all(len(ids) == 1 for ids in live.values())
    assert len(set().union(*live.values())) == len(SIBLINGS)
