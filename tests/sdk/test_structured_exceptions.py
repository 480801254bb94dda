"""Structured exceptions from the middleware, the log handler and Celery task failures:
type, message, frames (module, function, line, context) marked in-app or not, and one
event per exception even when Django or Celery logs it again."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery
from celery.contrib.testing.worker import start_worker
from django.conf import settings as django_settings
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import path

from aiops_sdk import celery as sdk_celery
from aiops_sdk.attach import loggers_to_hook
from aiops_sdk.django import AIOpsLogHandler, attach_logging, get_client, reset_client
from tests.sdk.fake_ingest import TOKEN, FakeIngest, wait_until


def load_bookmark(pk: int) -> Any:
    return None


def show(request: HttpRequest, pk: int) -> HttpResponse:
    return HttpResponse(load_bookmark(pk).title)


urlpatterns = [path("b/<int:pk>/", show)]


@pytest.fixture
def aiops(settings: Any, ingest: FakeIngest) -> Iterator[FakeIngest]:
    settings.AIOPS = {"URL": ingest.url, "TOKEN": TOKEN, "SERVICE": "shop", "FLUSH_INTERVAL": 0.05}
    settings.MIDDLEWARE = ["aiops_sdk.django.AIOpsRequestMiddleware", *settings.MIDDLEWARE]
    attach_logging()
    yield ingest
    for logger in loggers_to_hook():
        for handler in [h for h in logger.handlers if isinstance(h, AIOpsLogHandler)]:
            logger.removeHandler(handler)
    reset_client()


def log_lines(ingest: FakeIngest) -> list[dict[str, Any]]:
    assert get_client().flush(timeout=5)
    return [e["payload"] for e in ingest.accepted("log.line")]


@pytest.mark.urls(__name__)
def test_the_middleware_reports_the_views_exception_once_with_its_frames(
    aiops: FakeIngest,
) -> None:
    assert Client(raise_request_exception=False).get("/b/5/").status_code == 500
    (line,) = log_lines(aiops)  # Django's own "Internal Server Error" record was skipped
    assert line["message"] == "Internal Server Error: GET /b/<int:pk>/"
    exception = line["exception"]
    assert exception["type"] == "AttributeError"
    assert exception["message"] == "'NoneType' object has no attribute 'title'"
    innermost = exception["frames"][-1]
    assert innermost == {
        "module": __name__,
        "function": "show",
        "lineno": innermost["lineno"],
        "context_line": "return HttpResponse(load_bookmark(pk).title)",
        "in_app": True,
    }
    django_frames = [f for f in exception["frames"] if f["module"].startswith("django.")]
    assert django_frames and not any(f["in_app"] for f in django_frames)
    (request,) = [e["payload"] for e in aiops.accepted("api.request")]
    assert request["status"] == 500 and request["error_type"] == "AttributeError"


def test_the_log_handler_sends_exc_info_as_a_structured_exception(aiops: FakeIngest) -> None:
    try:
        {}["url"]  # noqa: B018
    except KeyError:
        logging.getLogger("shop.imports").exception("import %s failed", "i-1")
    (line,) = log_lines(aiops)
    assert line["exception"]["type"] == "KeyError"
    assert line["exception"]["frames"][-1]["function"].endswith(
        "test_the_log_handler_sends_exc_info_as_a_structured_exception"
    )


def fetch_favicon(url: str) -> None:
    raise ConnectionRefusedError(f"[Errno 111] Connection refused: {url}")


@pytest.fixture
def worker_app(aiops: FakeIngest) -> Iterator[Celery]:
    app = Celery("sdk-tasks", broker=django_settings.REDIS_URL)
    app.conf.update(task_default_queue="sdk-test-tasks", worker_hijack_root_logger=False)

    @app.task(name="shop.favicons.refresh")
    def refresh(url: str) -> None:
        fetch_favicon(url)

    sdk_celery.connect(get_client, reattach_logging=attach_logging)
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        yield app
    sdk_celery.disconnect()


def test_a_task_failure_in_a_real_worker_is_reported_once_with_its_frames(
    aiops: FakeIngest, worker_app: Celery
) -> None:
    worker_app.tasks["shop.favicons.refresh"].delay("https://icons.example/a.ico")
    wait_until(lambda: bool(aiops.accepted("log.line")), timeout=20)
    (line,) = log_lines(aiops)  # Celery's "Task ... raised unexpected" record was skipped
    assert line["message"] == "Task shop.favicons.refresh failed"
    assert line["fields"]["task"] == "shop.favicons.refresh" and line["fields"]["task_id"]
    exception = line["exception"]
    assert exception["type"] == "ConnectionRefusedError"
    in_app = [f["function"] for f in exception["frames"] if f["in_app"]]
    assert in_app[-1] == "fetch_favicon"
    assert not any(f["module"].startswith("celery") for f in exception["frames"] if f["in_app"])
