"""The Django integration: ``api.request`` from the middleware, ``log.line`` from the handler.

The shared client is configured through ``settings.AIOPS`` pointing at the fake ingest
server; changing that setting (pytest-django's ``settings`` fixture) resets the client.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import AsyncClient, Client
from django.urls import path

from aiops_sdk.django import AIOpsLogHandler, AIOpsRequestMiddleware, get_client, reset_client
from tests.sdk.fake_ingest import TOKEN, FakeIngest


def show_item(request: HttpRequest, pk: int) -> HttpResponse:
    return JsonResponse({"pk": pk})


def crash(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("the view broke")


urlpatterns = [
    path("items/<int:pk>/", show_item, name="item"),
    path("crash/", crash, name="crash"),
]

pytestmark = pytest.mark.urls(__name__)


@pytest.fixture
def aiops(settings: Any, ingest: FakeIngest) -> Iterator[FakeIngest]:
    settings.AIOPS = {
        "URL": ingest.url,
        "TOKEN": TOKEN,
        "SERVICE": "shop",
        "INSTANCE": "web-1",
        "FLUSH_INTERVAL": 0.05,
    }
    settings.MIDDLEWARE = ["aiops_sdk.django.AIOpsRequestMiddleware", *settings.MIDDLEWARE]
    yield ingest
    reset_client()


def sent(ingest: FakeIngest, event_type: str) -> list[dict[str, Any]]:
    assert get_client().flush(timeout=5)
    return ingest.accepted(event_type)


def test_the_middleware_emits_the_route_pattern_not_the_path(aiops: FakeIngest) -> None:
    response = Client().get("/items/42/", headers={"X-Request-ID": "req-1"})
    assert response.status_code == 200
    (event,) = sent(aiops, "api.request")
    assert event["source"] == "shop" and event["instance"] == "web-1"
    assert event["correlation_id"] == "req-1"
    payload = event["payload"]
    assert payload["method"] == "GET" and payload["status"] == 200
    assert payload["endpoint"] == "/items/<int:pk>/"
    assert payload["latency_ms"] >= 0 and "user_id" not in payload


@pytest.mark.django_db
def test_it_names_the_signed_in_user(aiops: FakeIngest, viewer: Any) -> None:
    client = Client()
    client.force_login(viewer)
    client.get("/items/7/")
    (event,) = sent(aiops, "api.request")
    assert event["payload"]["user_id"] == str(viewer.pk)


def test_it_reports_server_errors_and_unmatched_paths(aiops: FakeIngest) -> None:
    client = Client(raise_request_exception=False)
    assert client.get("/crash/").status_code == 500
    assert client.post("/nowhere/123").status_code == 404
    crashed, unmatched = sent(aiops, "api.request")
    assert crashed["payload"]["status"] == 500 and crashed["severity"] == "error"
    assert unmatched["payload"]["endpoint"] == "<unmatched>"  # never the raw path
    assert unmatched["payload"]["method"] == "POST" and unmatched["payload"]["status"] == 404


def test_the_middleware_runs_natively_in_an_async_stack(
    aiops: FakeIngest, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The project's own stack has sync-only middleware (so Django runs the chain sync);
    # with async-capable neighbours the middleware must take its async path.
    settings.MIDDLEWARE = [
        "aiops_sdk.django.AIOpsRequestMiddleware",
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
    ]
    calls: list[str] = []
    original = AIOpsRequestMiddleware.__acall__

    async def spy(self: AIOpsRequestMiddleware, request: HttpRequest) -> HttpResponse:
        calls.append(request.path)
        return await original(self, request)

    monkeypatch.setattr(AIOpsRequestMiddleware, "__acall__", spy)
    response = asyncio.run(AsyncClient().get("/items/9/"))
    assert calls == ["/items/9/"]  # the async path, no sync_to_async hop
    assert response.status_code == 200
    (event,) = sent(aiops, "api.request")
    assert event["payload"]["endpoint"] == "/items/<int:pk>/"


@pytest.fixture
def shop_logger(aiops: FakeIngest) -> Iterator[logging.Logger]:
    logger = logging.getLogger("shop.imports")
    handler = AIOpsLogHandler()
    logger.addHandler(handler)
    yield logger
    logger.removeHandler(handler)


def test_the_log_handler_emits_errors_with_their_traceback(
    aiops: FakeIngest, shop_logger: logging.Logger
) -> None:
    shop_logger.info("import %s started", "i1")
    shop_logger.warning("slow import")
    try:
        {}["missing"]  # noqa: B018
    except KeyError:
        shop_logger.exception("import %s failed", "i1", extra={"import_id": "i1"})
    (event,) = sent(aiops, "log.line")
    assert event["severity"] == "error"
    payload = event["payload"]
    assert payload["level"] == "ERROR" and payload["message"] == "import i1 failed"
    assert payload["logger"] == "shop.imports"
    fields = payload["fields"]
    assert fields["exception_type"] == "KeyError" and fields["import_id"] == "i1"
    assert "Traceback" in fields["traceback"] and "missing" in fields["traceback"]


def test_the_log_handler_ignores_the_sdks_own_records(
    aiops: FakeIngest, shop_logger: logging.Logger
) -> None:
    sdk_logger = logging.getLogger("aiops_sdk")
    handler = AIOpsLogHandler()
    sdk_logger.addHandler(handler)
    try:
        sdk_logger.error("sending failed")
    finally:
        sdk_logger.removeHandler(handler)
    shop_logger.critical("disk full")
    (event,) = sent(aiops, "log.line")
    assert event["payload"]["message"] == "disk full" and event["severity"] == "critical"


def test_the_log_handler_never_raises_even_when_misconfigured(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.AIOPS = {"SERVICE": "shop"}  # no URL nor TOKEN
    handled: list[logging.LogRecord] = []
    handler = AIOpsLogHandler()
    monkeypatch.setattr(handler, "handleError", handled.append)
    logger = logging.getLogger("shop.misconfigured")
    logger.addHandler(handler)
    try:
        logger.error("this must not raise")
    finally:
        logger.removeHandler(handler)
    assert [r.getMessage() for r in handled] == ["this must not raise"]
