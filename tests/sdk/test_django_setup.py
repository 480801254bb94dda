"""The one-line Django integration: route labels, the logging attach, instance ids and
registration only in serving processes."""

from __future__ import annotations

import logging
import logging.config
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import include, path, re_path
from rest_framework import routers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from aiops_sdk.attach import loggers_to_hook
from aiops_sdk.django import AIOpsLogHandler, get_client, reset_client, setup
from aiops_sdk.process import default_instance, is_serving, process_role
from tests.sdk.fake_ingest import TOKEN, FakeIngest


def ok(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    return HttpResponse("ok")


class BookmarkViewSet(viewsets.ViewSet):
    def list(self, request: Any) -> Response:
        return Response([])

    def create(self, request: Any) -> Response:
        return Response({}, status=201)

    def retrieve(self, request: Any, pk: str) -> Response:
        return Response({"pk": pk})

    @action(detail=False)
    def search(self, request: Any) -> Response:
        return Response([])


router = routers.DefaultRouter()
router.register("bookmarks", BookmarkViewSet, basename="bookmark")

urlpatterns = [
    path("items/<int:pk>/", ok),
    re_path(r"^archive/(?P<year>[0-9]{4})/(?P<slug>[-\w]+)/$", ok),
    re_path(r"^legacy/(\d+)/$", ok),
    re_path(r"^api/", include(router.urls)),
]


@pytest.fixture
def aiops(settings: Any, ingest: FakeIngest) -> Iterator[FakeIngest]:
    settings.AIOPS = {"URL": ingest.url, "TOKEN": TOKEN, "SERVICE": "shop", "FLUSH_INTERVAL": 0.05}
    settings.MIDDLEWARE = ["aiops_sdk.django.AIOpsRequestMiddleware", *settings.MIDDLEWARE]
    yield ingest
    reset_client()


def endpoints(ingest: FakeIngest) -> list[tuple[str, str, str | None]]:
    assert get_client().flush(timeout=5)
    return [
        (e["payload"]["method"], e["payload"]["endpoint"], e["payload"].get("view"))
        for e in ingest.accepted("api.request")
    ]


@pytest.mark.urls(__name__)
def test_route_labels_for_path_re_path_and_drf_routers_are_never_raw_regex(
    aiops: FakeIngest,
) -> None:
    client = Client()
    for url in ("/items/3/", "/archive/2024/spring-sale/", "/legacy/42/"):
        assert client.get(url).status_code == 200
    assert client.get("/api/bookmarks/").status_code == 200
    assert client.post("/api/bookmarks/").status_code == 201
    assert client.get("/api/bookmarks/search/").status_code == 200
    assert client.get("/api/bookmarks/17/").status_code == 200
    assert endpoints(aiops) == [
        ("GET", "/items/<int:pk>/", None),
        ("GET", "/archive/<year>/<slug>/", None),
        ("GET", "/legacy/<var>/", None),
        ("GET", "/api/bookmarks/", "bookmark.list"),
        ("POST", "/api/bookmarks/", "bookmark.create"),
        ("GET", "/api/bookmarks/search/", "bookmark.search"),
        ("GET", "/api/bookmarks/<pk>/", "bookmark.retrieve"),
    ]


@pytest.fixture
def app_logging() -> Iterator[None]:
    # An app's LOGGING as found in the field: its own loggers keep to their own handler.
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {"null": {"class": "logging.NullHandler"}},
            "loggers": {
                "shop.tasks": {"handlers": ["null"], "level": "INFO", "propagate": False},
                "shop.web": {"level": "INFO"},
            },
        }
    )
    yield
    for logger in loggers_to_hook():
        for handler in [h for h in logger.handlers if isinstance(h, AIOpsLogHandler)]:
            logger.removeHandler(handler)
    logging.getLogger("shop.tasks").propagate = True


def test_setup_attaches_the_handler_to_non_propagating_loggers_once(
    aiops: FakeIngest, app_logging: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["manage.py", "migrate"])
    done = setup()
    assert "shop.tasks" in done["logging"] and "root" in done["logging"]
    assert "django.server" not in done["logging"]
    assert setup()["logging"] == []  # idempotent: nothing added twice
    logging.getLogger("shop.tasks").error("task %s failed", "t1")
    logging.getLogger("shop.web").error("view failed")
    assert get_client().flush(timeout=5)
    messages = sorted(e["payload"]["message"] for e in aiops.accepted("log.line"))
    assert messages == ["task t1 failed", "view failed"]  # each once


@pytest.mark.parametrize(
    ("argv", "role", "serving"),
    [
        (["/srv/venv/bin/gunicorn", "shop.wsgi"], "web", True),
        (["/srv/venv/lib/python3.12/site-packages/uvicorn/__main__.py", "shop.asgi:app"],
         "web", True),
        (["/srv/venv/bin/celery", "-A", "shop", "worker", "-l", "info"], "worker", True),
        (["/srv/venv/bin/celery", "-A", "shop", "beat"], "beat", False),
        (["manage.py", "migrate"], "migrate", False),
        (["manage.py", "shell", "-c", "print(1)"], "shell", False),
        (["manage.py", "runserver", "--noreload"], "web", True),
        (["manage.py", "runserver"], "web", False),  # the autoreloader's watcher
    ],
)  # fmt: skip
def test_the_role_and_whether_the_process_serves_come_from_its_command_line(
    argv: list[str], role: str, serving: bool
) -> None:
    assert process_role(argv, {}) == role
    assert is_serving(argv, {}) is serving
    assert is_serving(argv, {"AIOPS_ROLE": "worker"}) is True


def test_runserver_serves_in_its_reloaded_child() -> None:
    assert is_serving(["manage.py", "runserver"], {"RUN_MAIN": "true"}) is True


def test_every_process_has_its_own_instance_id() -> None:
    script = "from aiops_sdk.process import default_instance; print(default_instance())"
    ids = {
        subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True
        ).stdout.strip()
        for _ in range(2)
    }
    assert len(ids) == 2 and all(i.startswith("python@") for i in ids)
    assert default_instance("web").startswith("web@") and default_instance("web").endswith(
        f":{__import__('os').getpid()}"
    )


@pytest.mark.parametrize(
    ("argv", "registered"),
    [(["manage.py", "migrate"], False), (["/venv/bin/gunicorn", "shop.wsgi"], True)],
)
def test_setup_registers_only_a_serving_process(
    aiops: FakeIngest, settings: Any, monkeypatch: pytest.MonkeyPatch, argv: list[str],
    registered: bool,
) -> None:  # fmt: skip
    settings.AIOPS = {**settings.AIOPS, "LOGGING": False, "REGISTER": {"version": "1.2"}}
    monkeypatch.setattr(sys, "argv", argv)
    assert setup()["registered"] is registered
    instances = [instance for _, instance in aiops.registrations]
    if registered:
        assert instances == [get_client().instance]
        assert instances[0].startswith("web@")
    else:
        assert instances == []
