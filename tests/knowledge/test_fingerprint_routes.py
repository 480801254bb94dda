"""Values inside a route are values from the first line (issue 15, live path), on real Redis.

A hashed asset name (``app.mmgv2ur1cy.js``) holds a digit, so the shared ``Fingerprinter``
reads that part as ``<*>`` at once, as it reads any token with a digit in a message; one
that happens to have no digit is covered by the pattern the others made. A name with a
version number (``v1``) stays part of the route.
"""

from __future__ import annotations

import json
import random
import string
import zlib

import redis

from knowledge import fingerprint_family
from knowledge.fingerprint import Fingerprinter
from knowledge.fingerprint_family import valued_route
from tests.knowledge.lockless import CountingRedis

NAMESPACE = "test:fp:routes"


def _asset(path: str, n: int) -> str:
    return f'"GET {path} HTTP/1.1" 200 {1000 + n} "-" "Mozilla/5.0"'


def _hashed(r: random.Random) -> str:
    return "".join(r.choice(string.ascii_lowercase + string.digits) for _ in range(10))


def test_the_parts_of_a_route_that_hold_a_digit_are_values():
    assert valued_route("/static/js/app.mmgv2ur1cy.js") == "/static/js/app.<*>.js"
    assert valued_route("/images/7iehvy902a.webp") == "/images/<*>.webp"
    assert valued_route("/api/v1/orders/<*>/checkout") == "/api/v1/orders/<*>/checkout"
    assert valued_route("/oauth2/token?per_page=<*>") == "/oauth2/token?per_page=<*>"


def test_hashed_asset_names_are_one_event_from_the_first_line(
    clean_redis: redis.Redis, monkeypatch
):
    r = random.Random(5)
    names = [_hashed(r) for _ in range(6)] + ["bfhqgsqatw"]  # the last one has no digit
    worker = Fingerprinter(clean_redis, namespace=NAMESPACE)
    scripts = [
        worker.fingerprint_message(_asset(f"/static/js/app.{name}.js", n))
        for n, name in enumerate(names)
    ]
    assert {(s.fingerprint, s.own) for s in scripts} == {(scripts[0].own, scripts[0].own)}
    assert scripts[-1].template.startswith('"GET /static/js/app.<*>.js HTTP/<*>"')
    styles = worker.fingerprint_message(_asset("/static/css/site.4kd93jd0a1.css", 9))
    assert styles.fingerprint != scripts[0].fingerprint  # another route: another event
    assert worker.aliases() == {}  # nothing handed out had to be merged later
    restarted = Fingerprinter(clean_redis, namespace=NAMESPACE)
    calls: list[str] = []
    monkeypatch.setattr(restarted, "redis", CountingRedis(clean_redis, calls))
    late = restarted.fingerprint_messages(
        [_asset(f"/static/js/app.{name}.js", 11) for name in ("zzzzqqqqxx", "k2j4h6g8f0")]
    )
    assert {(r.fingerprint, r.own) for r in late} == {(scripts[0].own, scripts[0].own)}
    assert calls == ["pipeline"]  # unseen hashed names: answered from the state, no lock


def test_versioned_routes_stay_apart(clean_redis: redis.Redis):
    worker = Fingerprinter(clean_redis, namespace=NAMESPACE)
    v1, v2 = (worker.fingerprint_message(_asset(f"/api/{v}/orders", 1)) for v in ("v1", "v2"))
    assert v1.fingerprint != v2.fingerprint


def test_routes_saved_before_values_inside_routes_keep_their_fingerprints(
    clean_redis: redis.Redis, monkeypatch
):
    old_route = "/static/js/app.qk1234567z.js"
    with monkeypatch.context() as old_code:  # the code before: routes kept as they came
        old_code.setattr(fingerprint_family, "valued_route", lambda route: route)
        worker = Fingerprinter(clean_redis, namespace=NAMESPACE)
        before = worker.fingerprint_message(_asset(old_route, 1))
    assert old_route in before.template
    # As saved before this change: no ``valued`` mark, no ``raw`` slots.
    document = json.loads(zlib.decompress(clean_redis.get(f"{NAMESPACE}:state")))
    del document["families"]["valued"], document["families"]["raw"]
    clean_redis.set(f"{NAMESPACE}:state", zlib.compress(json.dumps(document).encode()))
    clean_redis.incr(f"{NAMESPACE}:version")
    upgraded = Fingerprinter(clean_redis, namespace=NAMESPACE)
    again = upgraded.fingerprint_message(_asset(old_route, 2))
    assert (again.fingerprint, again.own) == (before.fingerprint, before.own)
    assert old_route in again.template
    # A change saved by the new code keeps the slot raw, so a later worker answers the same.
    upgraded.fingerprint_message(_asset("/static/js/app.pq7654321w.js", 3))
    resaved = json.loads(zlib.decompress(clean_redis.get(f"{NAMESPACE}:state")))
    assert resaved["families"]["valued"] is True
    assert resaved["families"]["raw"] == sorted(resaved["families"]["routes"])
    later = Fingerprinter(clean_redis, namespace=NAMESPACE).fingerprint_message(
        _asset(old_route, 4)
    )
    assert (later.fingerprint, later.own) == (before.fingerprint, before.own)
