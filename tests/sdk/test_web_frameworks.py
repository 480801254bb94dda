"""The WSGI and ASGI middlewares in real apps on real servers, reporting to the live ingest.

The same shop runs as a Flask app under Werkzeug's server and as a FastAPI app under
uvicorn; real HTTP requests go to it, and the events that reach the mesh through the
product's ingest API are checked: the same ``api.request`` and ``log.line`` a Django app
sends (``tests/sdk/test_django.py``), with route templates as endpoints.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from websockets.sync.client import connect

from aiops_sdk import AIOpsClient, LogHandler
from aiops_sdk.asgi import AIOpsMiddleware as ASGIMiddleware
from tests.sdk import web_apps
from tests.sdk.web_events import SERVICE, arrived, live_client, requests_to

pytestmark = pytest.mark.django_db(transaction=True)
FRAMEWORKS = ("flask", "fastapi", "starlette")
ERROR_TYPE = "tests.sdk.web_apps.StockLedgerError"


@pytest.fixture
def client(live_server: Any) -> Iterator[AIOpsClient]:
    with live_client(live_server.url) as client:
        yield client


@pytest.fixture
def lifespan_log() -> list[str]:
    return []


@pytest.fixture(params=FRAMEWORKS)
def shop(request: pytest.FixtureRequest, client: AIOpsClient, lifespan_log: list[str]):
    if request.param == "flask":
        server = web_apps.serve_wsgi(web_apps.flask_app(client))
    elif request.param == "fastapi":
        server = web_apps.serve_asgi(web_apps.fastapi_app(client, lifespan_log))
    else:
        server = web_apps.serve_asgi(web_apps.starlette_app(client))
    yield server
    server.stop()


@pytest.fixture
def log_handler(client: AIOpsClient) -> Iterator[None]:
    """The SDK's log handler where the frameworks log a request's exception (the root
    logger for Flask, uvicorn's own non-propagating logger): each would be a second report
    of the same exception, were it not reported once."""
    handler = LogHandler(client)
    loggers = [logging.getLogger(), logging.getLogger("uvicorn")]
    for logger in loggers:
        logger.addHandler(handler)
    yield
    for logger in loggers:
        logger.removeHandler(handler)


def test_endpoints_are_route_templates_never_ids(
    shop: web_apps.ThreadedServer, client: AIOpsClient, clean_redis: redis.Redis
) -> None:
    with httpx.Client(base_url=shop.url) as http:
        assert http.get("/items/42", headers={"X-Request-ID": "req-42"}).status_code == 200
        assert http.get("/items/7", headers={"X-Correlation-ID": "corr-7"}).status_code == 200
        assert http.get("/nowhere/123", headers={"X-Request-ID": "typo"}).status_code == 404
    # Keyed by correlation id: each is emitted once its response is sent, in any order.
    events = {e["correlation_id"]: e for e in arrived(clean_redis, client, "api.request", 3)}
    assert {
        key: (e["payload"]["endpoint"], e["payload"]["status"]) for key, e in events.items()
    } == {
        "req-42": ("/items/{id}", 200),
        "corr-7": ("/items/{id}", 200),
        "typo": ("<unmatched>", 404),  # never the raw path
    }
    assert {(e["source"], e["instance"], e["severity"]) for e in events.values()} == {
        (SERVICE, "web-1", "info")
    }
    for event in events.values():
        assert event["payload"]["method"] == "GET" and "error_type" not in event["payload"]
        assert event["payload"]["latency_ms"] >= 0 and "user_id" not in event["payload"]


def test_the_signed_in_user_is_named(
    shop: web_apps.ThreadedServer, client: AIOpsClient, clean_redis: redis.Redis
) -> None:
    # Flask: REMOTE_USER set by the app's auth; Starlette/FastAPI: scope["user"].
    with httpx.Client(base_url=shop.url) as http:
        headers = {"Authorization": "Bearer ada", "X-Request-ID": "signed-in"}
        assert http.get("/items/5", headers=headers).status_code == 200
        assert http.get("/items/6", headers={"X-Request-ID": "anonymous"}).status_code == 200
    events = {e["correlation_id"]: e for e in arrived(clean_redis, client, "api.request", 2)}
    assert events["signed-in"]["payload"]["user_id"] == "ada"
    assert "user_id" not in events["anonymous"]["payload"]


@pytest.mark.parametrize("kind", ["wsgi", "asgi"])
def test_a_user_hook_that_raises_costs_only_the_user_id(
    kind: str, client: AIOpsClient, clean_redis: redis.Redis
) -> None:
    def broken_user(_: Any) -> str:
        raise LookupError("no session store")

    if kind == "wsgi":
        server = web_apps.serve_wsgi(web_apps.bare_wsgi_app(client, 10, user_id=broken_user))
    else:
        server = web_apps.serve_asgi(web_apps.bare_asgi_app(client, 10, user_id=broken_user))
    try:
        with httpx.Client(base_url=server.url) as http:
            assert http.get("/items/5").status_code == 200
    finally:
        server.stop()
    [event] = arrived(clean_redis, client, "api.request", 1)
    assert event["payload"]["endpoint"] == "/items/{id}"
    assert event["payload"]["status"] == 200
    assert "user_id" not in event["payload"]


def test_a_slow_handler_reports_its_whole_latency(
    shop: web_apps.ThreadedServer, client: AIOpsClient, clean_redis: redis.Redis
) -> None:
    assert httpx.get(shop.url + "/slow").status_code == 200
    (slow,) = requests_to(arrived(clean_redis, client, "api.request"), "/slow")
    assert slow["latency_ms"] >= web_apps.SLOW_SECONDS * 1000


def test_a_streamed_response_is_timed_to_its_last_chunk(
    shop: web_apps.ThreadedServer, client: AIOpsClient, clean_redis: redis.Redis
) -> None:
    with httpx.stream("GET", shop.url + "/stream") as response:
        # The headers arrive before the body is made: the stream is what takes the time.
        assert response.status_code == 200
        body = response.read().decode()
    assert body.count("chunk") == web_apps.STREAM_CHUNKS
    (stream,) = requests_to(arrived(clean_redis, client, "api.request"), "/stream")
    assert stream["status"] == 200
    assert stream["latency_ms"] >= web_apps.STREAM_CHUNKS * web_apps.CHUNK_SECONDS * 1000


def test_a_raising_handler_is_a_500_with_its_exception_reported_once(
    shop: web_apps.ThreadedServer, client: AIOpsClient, clean_redis: redis.Redis, log_handler: None
) -> None:
    response = httpx.post(shop.url + "/items/3/reserve", headers={"X-Request-ID": "req-3"})
    assert response.status_code == 500
    (request,) = arrived(clean_redis, client, "api.request")
    assert request["severity"] == "error" and request["correlation_id"] == "req-3"
    assert request["payload"]["endpoint"] == "/items/{id}/reserve"
    assert request["payload"]["status"] == 500
    assert request["payload"]["error_type"] == ERROR_TYPE
    (line,) = arrived(clean_redis, client, "log.line")  # not again from the framework's log
    payload = line["payload"]
    assert payload["message"] == "Internal Server Error: POST /items/{id}/reserve"
    assert (
        line["correlation_id"] == "req-3" and payload["fields"]["endpoint"] == "/items/{id}/reserve"
    )
    exception = payload["exception"]
    assert exception["type"] == ERROR_TYPE
    assert exception["message"] == "stock ledger for item 3 is locked"
    # The handler (qualified: flask_app.<locals>.reserve) and the function that raised.
    in_app = [(f["module"], f["function"]) for f in exception["frames"] if f["in_app"]]
    assert [(module, name.rsplit(".", 1)[-1]) for module, name in in_app[-2:]] == [
        ("tests.sdk.web_apps", "reserve"),
        ("tests.sdk.web_apps", "reserve_stock"),
    ]
    assert all(not f["module"].startswith("aiops_sdk") for f in exception["frames"])
    library = {f["module"].split(".")[0] for f in exception["frames"] if not f["in_app"]}
    assert library & {"flask", "starlette", "fastapi"}  # the framework's frames, not in-app


def test_websocket_and_lifespan_pass_through_untouched(
    client: AIOpsClient, clean_redis: redis.Redis, lifespan_log: list[str]
) -> None:
    server = web_apps.serve_asgi(web_apps.fastapi_app(client, lifespan_log))
    try:
        assert lifespan_log == ["startup"]
        with connect(server.url.replace("http", "ws") + "/echo") as socket:
            socket.send("hello")
            assert socket.recv(timeout=5) == "echo: hello"
        assert httpx.get(server.url + "/items/1").status_code == 200
    finally:
        server.stop()
    assert lifespan_log == ["startup", "shutdown"]
    events = arrived(clean_redis, client, "api.request")
    assert [e["payload"]["endpoint"] for e in events] == ["/items/{id}"]  # no websocket request


def test_a_request_the_server_cancels_is_not_a_server_error(
    client: AIOpsClient, clean_redis: redis.Redis
) -> None:
    """Daphne cancels an app's task once its client went away: that request is a 499
    (nginx's "client closed request"), not a 500 that would raise the error rate."""
    entered = asyncio.Event()

    async def hanging(scope: dict[str, Any], receive: Any, send: Any) -> None:
        entered.set()
        await asyncio.sleep(3600)  # waits on something that never answers

    app = ASGIMiddleware(hanging, client)

    async def serve_and_cancel() -> None:
        scope = {"type": "http", "method": "GET", "path": "/reports/7", "headers": []}
        task = asyncio.create_task(app(scope, None, None))
        await entered.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(serve_and_cancel())
    (event,) = arrived(clean_redis, client, "api.request")
    assert event["payload"]["status"] == 499 and event["severity"] == "info"
    assert event["payload"]["endpoint"] == "/reports/{id}"
    assert "error_type" not in event["payload"]
    assert arrived(clean_redis, client, "log.line", count=0) == []
