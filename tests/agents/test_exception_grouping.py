"""Exception-aware grouping end to end: real views and loggers instrumented with the SDK,
events through the mesh (validated by the product's schema at emit), the diagnostic agent,
the problems it records.

Django logs every unhandled exception as ``Internal Server Error: /path``; the problems
must follow the exceptions, not that message, and messages that embed data must not
make a problem per value.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.db import OperationalError
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import path, re_path

from agents.diagnostic.agent import BookmarkDiagnosticAgent
from agents.runtime import AgentRunner
from aiops_sdk.attach import loggers_to_hook
from aiops_sdk.django import AIOpsLogHandler, attach_logging, get_client, reset_client
from knowledge.models import Problem

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.urls(__name__)]


# --- A small app with three different bugs behind one log message ---------------------------


def save_bookmark() -> None:
    raise OperationalError("database is locked")


def lock_rows(table: str) -> None:
    raise OperationalError(f'could not obtain lock on row in relation "{table}"')


def parse_row(row: dict[str, Any]) -> str:
    return row["url"].strip()  # KeyError for a row without a url


def create(request: HttpRequest) -> HttpResponse:
    save_bookmark()
    return HttpResponse()


def update(request: HttpRequest, pk: int) -> HttpResponse:
    bookmark = None
    return HttpResponse(bookmark.title)  # type: ignore[attr-defined]


def bulk_edit(request: HttpRequest) -> HttpResponse:
    lock_rows("bookmarks_bookmark")
    return HttpResponse()


def show(request: HttpRequest, **kwargs: Any) -> HttpResponse:
    parse_row({"title": "no url"})
    return HttpResponse()


urlpatterns = [
    path("bookmarks/", create),
    path("bookmarks/<int:pk>/", update),
    path("bookmarks/bulk/", bulk_edit),
    path("shared/<int:pk>/", show),
    re_path(r"^legacy/(?P<slug>[-\w]+)/$", show),
]


@pytest.fixture
def instrumented(settings: Any, clean_redis: redis.Redis) -> Iterator[None]:
    settings.AIOPS = {
        "SERVICE": "bookmarks",
        "TRANSPORT": "redis",
        "VALIDATE": "agents.events.parse_event",  # the ingest's schema, checked at emit
    }
    settings.MIDDLEWARE = ["aiops_sdk.django.AIOpsRequestMiddleware", *settings.MIDDLEWARE]
    attach_logging()
    yield
    for logger in loggers_to_hook():
        for handler in [h for h in logger.handlers if isinstance(h, AIOpsLogHandler)]:
            logger.removeHandler(handler)
    reset_client()


def problems_after(send: Any) -> list[Problem]:
    before = set(Problem.objects.values_list("pk", flat=True))
    send()
    assert get_client().flush(timeout=5)
    runner = AgentRunner(BookmarkDiagnosticAgent())
    for _ in range(3):
        runner.run_once(block_ms=50)
    return list(Problem.objects.exclude(pk__in=before).order_by("pk"))


def log_lines(clean_redis: redis.Redis) -> int:
    return clean_redis.xlen("events:log.line")


def test_three_exceptions_behind_one_message_are_three_problems(
    instrumented: None, clean_redis: redis.Redis
) -> None:
    client = Client(raise_request_exception=False)

    def send() -> None:
        for _ in range(2):
            assert client.post("/bookmarks/").status_code == 500
            assert client.post("/bookmarks/7/").status_code == 500
            assert client.post("/bookmarks/bulk/").status_code == 500

    problems = problems_after(send)
    # Django also logged "Internal Server Error: /..." for each: skipped, one event each.
    assert log_lines(clean_redis) == 6
    assert len(problems) == 3
    titles = sorted(p.title for p in problems)
    where = "in tests.agents.test_exception_grouping"
    assert titles == [
        f"AttributeError: … object has no attribute … {where}:update",
        f"OperationalError: could not obtain lock on row in relation … {where}:lock_rows",
        f"OperationalError: database is locked {where}:save_bookmark",
    ]
    assert all("<*>" not in t for t in titles)
    assert sorted(p.occurrence_count for p in problems) == [2, 2, 2]


def test_one_exception_from_different_paths_is_one_problem(
    instrumented: None, clean_redis: redis.Redis
) -> None:
    client = Client(raise_request_exception=False)

    def send() -> None:
        for url in ("/shared/1/", "/shared/2/", "/legacy/old-style-link/"):
            assert client.get(url).status_code == 500  # three paths, two routes, one bug

    (problem,) = problems_after(send)
    assert problem.occurrence_count == 3
    assert problem.title == "KeyError: … in tests.agents.test_exception_grouping:parse_row"


def test_one_exception_logged_with_different_messages_is_one_problem(
    instrumented: None, clean_redis: redis.Redis
) -> None:
    logger = logging.getLogger("bookmarks.imports")
    importers = ("ann", "bob", "chidi", "dee")

    def send() -> None:
        for n, user in enumerate(importers):
            try:
                parse_row({"title": f"row {n}"})
            except KeyError:
                message = "import %d for %s failed at row %d" if n % 2 else "%s: cannot import"
                logger.exception(message, *((n, user, n * 17) if n % 2 else (user,)))

    (problem,) = problems_after(send)
    assert problem.occurrence_count == len(importers)
    assert problem.error_patterns == ["ann: cannot import\nKeyError: 'url'"]


DATA_BEARING = [
    "Malformed bookmark file 'bookmarks (3).html': unexpected '<' at line 17",
    "Malformed bookmark file 'export.html': unexpected '}' at line 2048",
    "Malformed bookmark file \"Pocket export 2024-01-02.html\": unexpected '&' at line 3",
    "Malformed bookmark file 'a.html': unexpected <Element 'DT' at 0x7f3a2c91b0> at line 9",
    "Malformed bookmark file 'https://example.com/x?id=42': unexpected '{' at line 1",
    "Malformed bookmark file 'b.html': unexpected {'href': 'x', 'add_date': 17} at line 5",
    "Malformed bookmark file 'c d e f.html': unexpected ['a', 'b'] at line 12",
    "Malformed bookmark file '8f3a2c1d-1111-4a4a-9b9b-123456789abc.html': unexpected 'EOF' "
    "at line 0",
]


def test_messages_that_embed_data_are_one_problem(
    instrumented: None, clean_redis: redis.Redis
) -> None:
    def send() -> None:
        for n, error in enumerate(DATA_BEARING):
            get_client().emit(
                "import.failed",
                {"import_id": f"imp-{n}", "source": "html", "error": error},
                severity="error",
            )

    problems = problems_after(send)
    assert len(problems) == 1
    assert problems[0].occurrence_count == len(DATA_BEARING)
