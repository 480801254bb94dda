"""The bookmark manager's web tier: Django views and URLs, run through the SDK's middleware.

Requests never cross a socket (the traffic is generated in-process), but each one is a
real ``HttpRequest`` resolved against :data:`urlpatterns` and passed through
:class:`aiops_sdk.django.AIOpsRequestMiddleware`, so ``api.request`` events carry route
patterns, statuses and measured latencies exactly as from a deployed Django service; errors
are logged and reach AI-Ops Core as ``log.line`` through the SDK's logging handler.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import get_resolver, path

from aiops_sdk.django import AIOpsRequestMiddleware
from simulator.deployment import Outcome
from simulator.world import World

#: Real waiting is capped so a 30 s timeout does not hold a thread for 30 s.
MAX_SLEEP_S = 5.0


@dataclass(frozen=True)
class SimUser:
    pk: str
    is_authenticated: bool = True


@dataclass
class Tier:
    """What the views need: the world, a clock, and how to report."""

    world: World
    clock: Callable[[], float]
    emit: Callable[..., Any]  # emit(service, type, payload, severity=...)
    log_error: Callable[[str, str], None]  # log_error(service, text)
    on_bookmark_created: Callable[[str], None]


#: The query each endpoint spends most of its time in: (operation, table, share of latency).
QUERIES = {
    "list": ("select", "bookmarks_bookmark", 0.6),
    "detail": ("select", "bookmarks_bookmark", 0.5),
    "create": ("insert", "bookmarks_bookmark", 0.5),
    "search": ("select", "bookmarks_bookmark", 0.8),
    "login": ("select", "auth_user", 0.3),
}


def _respond(
    tier: Tier, outcome: Outcome, body: dict[str, Any] | None = None, *, query: str = ""
) -> HttpResponse:
    time.sleep(min(MAX_SLEEP_S, outcome.latency_ms / 1000))
    if query and outcome.status < 500:
        operation, table, share = QUERIES[query]
        tier.emit("bookmarks", "db.query", {
            "operation": operation, "table": table,
            "duration_ms": round(outcome.latency_ms * share, 2),
            "rows": len((body or {}).get("results", [])) or 1,
        })  # fmt: skip
    for service, _signal, text in outcome.errors:
        tier.log_error(service, text)
    if outcome.status >= 400:
        return JsonResponse({"error": "unavailable"}, status=outcome.status)
    return JsonResponse(body or {}, status=outcome.status)


def _tier(request: HttpRequest) -> Tier:
    return request.tier  # type: ignore[attr-defined]


def _user(request: HttpRequest) -> str:
    return str(request.user.pk)  # type: ignore[union-attr]


def list_bookmarks(request: HttpRequest) -> HttpResponse:
    tier = _tier(request)
    if request.method == "POST":
        outcome = tier.world.handle_request("create", authenticated=True, now=tier.clock())
        if outcome.status < 400:
            bookmark_id = f"b{int(tier.clock() * 1000) % 10_000_000}"
            url = request.POST.get("url", "https://example.com/")
            tier.emit("bookmarks", "bookmark.created", {
                "user_id": _user(request), "bookmark_id": bookmark_id, "url": url,
                "folder": request.POST.get("folder") or None,
                "tags": [t for t in request.POST.get("tags", "").split(",") if t],
            })  # fmt: skip
            tier.on_bookmark_created(url)
        return _respond(tier, outcome, {"created": True}, query="create")
    outcome = tier.world.handle_request("list", authenticated=True, now=tier.clock())
    return _respond(tier, outcome, {"results": []}, query="list")


def bookmark_detail(request: HttpRequest, pk: int) -> HttpResponse:
    tier = _tier(request)
    outcome = tier.world.handle_request("detail", authenticated=True, now=tier.clock())
    return _respond(tier, outcome, {"id": pk}, query="detail")


def search(request: HttpRequest) -> HttpResponse:
    tier = _tier(request)
    outcome = tier.world.handle_request("search", authenticated=True, now=tier.clock())
    if outcome.status < 400 and not outcome.errors:
        results = tier.world.random.randint(0, 40)
        tier.emit("bookmarks", "bookmark.searched", {
            "user_id": _user(request), "query": request.GET.get("q", ""), "results": results,
            "latency_ms": round(outcome.latency_ms, 2),
        })  # fmt: skip
    return _respond(tier, outcome, {"results": []}, query="search")


def login(request: HttpRequest) -> HttpResponse:
    tier = _tier(request)
    outcome = tier.world.handle_request("login", authenticated=True, now=tier.clock())
    if outcome.status < 400:
        tier.emit("bookmarks", "user.activity", {"user_id": _user(request), "action": "login"})
    return _respond(tier, outcome, {"ok": True}, query="login")


urlpatterns = [
    path("api/bookmarks/", list_bookmarks, name="bookmarks"),
    path("api/bookmarks/<int:pk>/", bookmark_detail, name="bookmark"),
    path("api/search/", search, name="search"),
    path("accounts/login/", login, name="login"),
]


class WebTier:
    """Serves one request at a time per calling thread, through the SDK middleware."""

    def __init__(self, tier: Tier) -> None:
        self.tier = tier
        self.resolver = get_resolver(__name__)
        self.handle = AIOpsRequestMiddleware(self._dispatch)

    def _dispatch(self, request: HttpRequest) -> HttpResponse:
        match = self.resolver.resolve(request.path_info)
        request.resolver_match = match
        return match.func(request, *match.args, **match.kwargs)

    def request(
        self, method: str, path_info: str, *, user: str, params: dict[str, str] | None = None
    ) -> HttpResponse:
        request = HttpRequest()
        request.method = method
        request.path = request.path_info = path_info
        request.META = {"REQUEST_METHOD": method, "SERVER_NAME": "bookmarks", "SERVER_PORT": "80"}
        if method == "POST":
            request.POST.update(params or {})  # type: ignore[attr-defined]
        else:
            request.GET.update(params or {})  # type: ignore[attr-defined]
        request.user = SimUser(user)  # type: ignore[assignment]
        request.tier = self.tier  # type: ignore[attr-defined]
        try:
            return self.handle(request)
        except Exception:
            logging.getLogger("simulator").exception("the web tier failed on %s", path_info)
            return HttpResponse(status=500)
