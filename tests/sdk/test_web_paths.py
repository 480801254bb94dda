"""Endpoint labels when no framework names a route: ids collapsed, distinct labels capped.

The pure rules (``aiops_sdk.paths``) first, then a bare WSGI callable under Werkzeug's
server and a bare ASGI coroutine under uvicorn, reporting to the live ingest API.
"""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from aiops_sdk import AIOpsClient
from aiops_sdk.core import new_ulid
from aiops_sdk.paths import OTHER_ENDPOINT, PathLabels, normalise_path, rule_label
from tests.sdk import web_apps
from tests.sdk.web_events import arrived, live_client


@pytest.mark.parametrize(
    ("path", "label"),
    [
        ("/items/42", "/items/{id}"),
        ("/items/42/", "/items/{id}/"),
        ("/items/42?page=3", "/items/{id}"),
        ("/reports/2024-01-31/summary", "/reports/{id}/summary"),
        (f"/orders/{uuid.UUID(int=7)}/lines/3", "/orders/{id}/lines/{id}"),
        ("/orders/550E8400E29B41D4A716446655440000", "/orders/{id}"),
        ("/commits/9f86d081884c7d65", "/commits/{id}"),
        ("/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV", "/jobs/{id}"),
        ("/users/ada@example.com/keys", "/users/{id}/keys"),
        ("/share/aB3dE5fG7hJ9kL1mN3pQ5rS7", "/share/{id}"),
        ("/files/" + "x" * 80, "/files/{id}"),
        ("/api/v2/users", "/api/v2/users"),  # words and versions stay
        ("/blog/my-first-post", "/blog/my-first-post"),  # no rule sees a slug: the cap does
        ("/a/b/c/d/e/f/g/h/i/j", "/a/b/c/d/e/f/g/h/{rest}"),
        ("", "/"),
        ("//", "/"),
    ],
)
def test_id_like_segments_become_id(path: str, label: str) -> None:
    assert normalise_path(path) == label


def test_flask_rules_read_like_starlette_templates() -> None:
    assert rule_label("/items/<int:id>") == "/items/{id}"
    assert rule_label("/files/<path:name>/raw") == "/files/{name}/raw"
    assert rule_label("/<any(about, help):page>") == "/{page}"
    assert rule_label("/static/<filename>") == "/static/{filename}"


def test_ten_thousand_paths_of_five_routes_make_five_labels() -> None:
    rng = random.Random(5)
    ids = (
        lambda: str(rng.randrange(10**9)),
        lambda: str(uuid.UUID(int=rng.getrandbits(128))),
        lambda: f"{rng.getrandbits(64):016x}",
        lambda: new_ulid(),
    )
    shapes = ("/items/{}", "/items/{}/edit", "/users/{}/orders/{}", "/carts/{}", "/search")
    labels = PathLabels()
    seen = {
        labels.label(rng.choice(shapes).format(rng.choice(ids)(), rng.choice(ids)()))
        for _ in range(10_000)
    }
    assert seen == {
        "/items/{id}",
        "/items/{id}/edit",
        "/users/{id}/orders/{id}",
        "/carts/{id}",
        "/search",
    }


def test_past_the_cap_new_labels_are_other_and_known_ones_stay() -> None:
    labels = PathLabels(limit=2)
    assert [labels.label(f"/blog/post-{word}") for word in ("a", "b", "c")] == [
        "/blog/post-a",
        "/blog/post-b",
        OTHER_ENDPOINT,
    ]
    assert labels.label("/blog/post-a") == "/blog/post-a"
    assert labels.label("/blog/post-zzz", status=404) == "<unmatched>"


def test_the_cap_holds_under_concurrent_requests() -> None:
    labels = PathLabels(limit=50)
    admitted: list[str] = []
    lock = threading.Lock()

    def visit(worker: int) -> None:
        for n in range(100):
            label = labels.label(f"/pages/page-{worker}-{n}")
            with lock:
                admitted.append(label)

    threads = [threading.Thread(target=visit, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(admitted) - {OTHER_ENDPOINT}) == 50
    assert admitted.count(OTHER_ENDPOINT) == 800 - 50


def test_the_middlewares_import_no_framework() -> None:
    """``aiops_sdk.wsgi`` / ``asgi`` work in any app: importing them (and wrapping a bare
    app) must not import Flask, Werkzeug, Starlette, FastAPI or Django, installed or not."""
    script = (
        "import sys\n"
        "from aiops_sdk.asgi import AIOpsMiddleware as A\n"
        "from aiops_sdk.wsgi import AIOpsMiddleware as W\n"
        "from aiops_sdk import AIOpsClient\n"
        "client = AIOpsClient('http://127.0.0.1:9', 't', service='s', instance='i')\n"
        "W(lambda environ, start: [], client), A(lambda scope, receive, send: None, client)\n"
        "frameworks = ('flask', 'werkzeug', 'starlette', 'fastapi', 'django')\n"
        "print([name for name in frameworks if name in sys.modules])\n"
        "client.close(timeout=0)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert run.stdout.strip() == "[]"


@pytest.fixture
def client(live_server: Any) -> Iterator[AIOpsClient]:
    with live_client(live_server.url, service="bare") as client:
        yield client


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", ["wsgi", "asgi"])
def test_a_bare_app_reports_normalised_paths_up_to_its_cap(
    kind: str, client: AIOpsClient, clean_redis: redis.Redis
) -> None:
    if kind == "wsgi":
        # One request at a time: which label is past the cap depends on the order.
        server = web_apps.serve_wsgi(web_apps.bare_wsgi_app(client, max_paths=3), threaded=False)
    else:
        server = web_apps.serve_asgi(web_apps.bare_asgi_app(client, max_paths=3))
    paths = [
        f"/orders/{uuid.UUID(int=9)}/lines/3",
        "/orders/41/lines/12",
        "/users/ada@example.com",
        "/blog/my-first-post",
        "/blog/another-post",  # past the cap of three
        "/orders/77/lines/1",  # a label already admitted
    ]
    try:
        with httpx.Client(base_url=server.url) as http:
            assert {http.get(path).status_code for path in paths} == {200}
    finally:
        server.stop()
    events = arrived(clean_redis, client, "api.request", count=len(paths))
    assert [event["payload"]["endpoint"] for event in events] == [
        "/orders/{id}/lines/{id}",
        "/orders/{id}/lines/{id}",
        "/users/{id}",
        "/blog/my-first-post",
        OTHER_ENDPOINT,
        "/orders/{id}/lines/{id}",
    ]


@pytest.mark.django_db(transaction=True)
def test_a_mounted_apps_raw_prefix_counts_under_the_cap(
    client: AIOpsClient, clean_redis: redis.Redis
) -> None:
    # Starlette leaves only the inner route in the scope; what the Mount matched is raw.
    server = web_apps.serve_asgi(web_apps.mounted_shops_app(client, max_paths=2))
    try:
        with httpx.Client(base_url=server.url) as http:
            for n, shop in enumerate(("17", "acme", "globex")):
                assert http.get(f"/shops/{shop}/items/{n}").status_code == 200
    finally:
        server.stop()
    events = arrived(clean_redis, client, "api.request", count=3)
    assert [event["payload"]["endpoint"] for event in events] == [
        "/shops/{id}/items/{id}",
        "/shops/acme/items/{id}",
        OTHER_ENDPOINT,
    ]
