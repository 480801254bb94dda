"""Requests Django refuses for its upload limits are errors: ``error_type`` on the
``api.request`` (severity error) and one ``log.line`` carrying the exception, whichever part
of the stack read the body (a view, or ``CsrfViewMiddleware`` before any view ran)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from aiops_sdk.attach import loggers_to_hook
from aiops_sdk.django import AIOpsLogHandler, attach_logging, get_client, reset_client
from aiops_sdk.django.refused import SECURITY_LOGGER, RefusalHook
from tests.sdk.fake_ingest import TOKEN, FakeIngest

LIMIT = 4096
TOO_BIG = "django.core.exceptions.RequestDataTooBig"


@csrf_exempt
def search(request: HttpRequest) -> HttpResponse:
    return HttpResponse(request.POST.get("q", ""))  # reads the body, as any form view does


def upload(request: HttpRequest) -> HttpResponse:
    return HttpResponse("stored")  # never reached with a big body: the CSRF check reads it


@csrf_exempt
def strict_upload(request: HttpRequest) -> HttpResponse:
    if int(request.META.get("CONTENT_LENGTH") or 0) > LIMIT:
        return HttpResponse("too large", status=413)  # a view refusing before reading
    return HttpResponse("stored")


urlpatterns = [
    path("search/", search),
    path("upload/", upload),
    path("strict-upload/", strict_upload),
]
pytestmark = pytest.mark.urls(__name__)


@pytest.fixture
def aiops(settings: Any, ingest: FakeIngest) -> Iterator[FakeIngest]:
    settings.AIOPS = {"URL": ingest.url, "TOKEN": TOKEN, "SERVICE": "shop", "FLUSH_INTERVAL": 0.05}
    settings.MIDDLEWARE = ["aiops_sdk.django.AIOpsRequestMiddleware", *settings.MIDDLEWARE]
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = LIMIT
    attach_logging()  # Django's record of the refusal reaches the log handler too
    yield ingest
    for logger in loggers_to_hook():
        for handler in [h for h in logger.handlers if isinstance(h, AIOpsLogHandler)]:
            logger.removeHandler(handler)
    reset_client()


def sent(ingest: FakeIngest) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    assert get_client().flush(timeout=5)
    return ingest.accepted("api.request"), ingest.accepted("log.line")


def post(client: Client, url: str, size: int) -> int:
    body = "q=" + "x" * size
    return client.post(url, body, content_type="application/x-www-form-urlencoded").status_code


def test_a_body_past_the_limit_read_by_a_view_is_an_error_with_its_type(aiops: FakeIngest) -> None:
    assert post(Client(), "/search/", LIMIT * 3) == 400
    (request,), (line,) = sent(aiops)  # one log.line: Django's own record was skipped
    assert request["payload"]["status"] == 400 and request["payload"]["error_type"] == TOO_BIG
    assert request["severity"] == "error"
    assert line["payload"]["message"] == "Request refused (upload limits): POST /search/"
    assert line["payload"]["exception"]["type"] == TOO_BIG
    assert "DATA_UPLOAD_MAX_MEMORY_SIZE" in line["payload"]["exception"]["message"]


def test_a_body_refused_by_the_csrf_check_before_any_view_is_reported(aiops: FakeIngest) -> None:
    client = Client(enforce_csrf_checks=True)
    client.cookies["csrftoken"] = "a" * 32  # a browser with a session, as any form post has
    assert post(client, "/upload/", LIMIT * 3) == 400
    (request,), (line,) = sent(aiops)
    assert request["payload"]["endpoint"] == "/upload/"
    assert request["payload"]["error_type"] == TOO_BIG
    assert line["payload"]["exception"]["type"] == TOO_BIG
    assert line["payload"]["exception"]["frames"]  # where Django read the body


def test_without_the_logging_hook_a_413_past_the_limit_is_still_named(aiops: FakeIngest) -> None:
    security = logging.getLogger(SECURITY_LOGGER)
    hooks = [h for h in security.handlers if isinstance(h, RefusalHook)]
    for hook in hooks:
        security.removeHandler(hook)
    try:
        assert post(Client(), "/strict-upload/", LIMIT * 2) == 413
    finally:
        for hook in hooks:
            security.addHandler(hook)
    (request,), (line,) = sent(aiops)
    assert request["payload"]["error_type"] == TOO_BIG
    assert f"({LIMIT} bytes)" in line["payload"]["exception"]["message"]


def test_a_body_within_the_limit_is_an_ordinary_request(aiops: FakeIngest) -> None:
    assert post(Client(), "/search/", LIMIT // 2) == 200
    assert post(Client(), "/strict-upload/", LIMIT // 2) == 200
    requests, lines = sent(aiops)
    assert [r["payload"]["status"] for r in requests] == [200, 200]
    assert all("error_type" not in r["payload"] and r["severity"] == "info" for r in requests)
    assert lines == []
