"""Any ASGI 3 app: FastAPI, Starlette, Litestar, Quart, a bare coroutine. Two lines::

    from aiops_sdk.asgi import AIOpsMiddleware
    app = AIOpsMiddleware(app, client)   # or app.add_middleware(AIOpsMiddleware, client=client)

One ``api.request`` per HTTP request, the same event the Django middleware sends (see
:mod:`aiops_sdk.web`); ``websocket`` and ``lifespan`` scopes pass through untouched. The
latency runs until the final ``http.response.body`` (or ``http.response.pathsend``) has
been sent, so a streamed response is timed to its last chunk, and background work after
it is not counted. An exception out of the app is reported as a ``log.line`` with its
in-app frames, counted as a 500 when the response was not complete (Starlette has sent its
500 page by then; a stream that broke midway is a 500 too), and re-raised for the server.
A request the server cancels before it was answered is a 499 (client closed request).

Endpoint labels: the matched route's template, which Starlette and FastAPI leave in
``scope["route"]`` (``.path``: ``/items/{id}``; under a ``Mount`` the raw prefix it matched,
normalised and counted under the cap, goes before it),
else the normalised path (:mod:`aiops_sdk.paths`). The user id defaults to Starlette's
``scope["user"]`` when authenticated. Nothing here imports a framework.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from aiops_sdk.base import ClientBase
from aiops_sdk.paths import DEFAULT_MAX_PATHS, PathLabels, normalise_path, template_label
from aiops_sdk.web import Exchange, correlation_id

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
UserOf = Callable[[Scope], Any]

LOGGER_NAME = "asgi"
CLIENT_CLOSED = 499
#: Body chunks (the last has no ``more_body``); ``http.response.pathsend`` is always whole.
_BODY_MESSAGES = ("http.response.body", "http.response.zerocopysend")


def scope_user(scope: Scope) -> str | None:
    """Starlette's authenticated ``scope["user"]`` (``identity``, else ``display_name``)."""
    user = scope.get("user")
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    for attribute in ("identity", "display_name", "username", "id"):
        try:
            value = getattr(user, attribute, None)
        except NotImplementedError:  # Starlette's BaseUser leaves identity abstract
            continue
        if value not in (None, ""):
            return str(value)
    return None


def _header(scope: Scope) -> Callable[[str], str | None]:
    headers = scope.get("headers") or ()

    def find(name: str) -> str | None:
        wanted = name.lower().encode("latin-1")
        for key, value in headers:
            if key.lower() == wanted:
                return value.decode("latin-1")
        return None

    return find


def _route_template(scope: Scope, labels: PathLabels) -> str | None:
    """The matched route's template; a ``Mount``'s matched prefix goes before it."""
    template = getattr(scope.get("route"), "path", None)
    if not isinstance(template, str):
        return None
    # A Mount keeps the app's own root in app_root_path and adds what it matched to
    # root_path; without a Mount, root_path is the server's (left out, as SCRIPT_NAME is).
    root, app_root = scope.get("root_path", ""), scope.get("app_root_path")
    prefix = root[len(app_root) :] if app_root is not None and root.startswith(app_root) else ""
    if prefix:
        # The prefix is the raw path the Mount matched (its own template is gone from the
        # scope by now): normalised, and counted under the cap like any raw path.
        return labels.admit(normalise_path(prefix).rstrip("/") + template_label(template))
    return template_label(template)


class AIOpsMiddleware:
    """Report every HTTP request of the ASGI app it wraps to AI-Ops Core through ``client``
    (an :class:`~aiops_sdk.AIOpsClient` or :class:`~aiops_sdk.AsyncAIOpsClient`: ``emit``
    never blocks either way).

    ``user_id(scope)`` names the signed-in user (default :func:`scope_user`); ``max_paths``
    bounds the distinct labels made from raw paths (see :mod:`aiops_sdk.paths`).
    """

    def __init__(
        self,
        app: ASGIApp,
        client: ClientBase,
        *,
        user_id: UserOf = scope_user,
        max_paths: int = DEFAULT_MAX_PATHS,
    ) -> None:
        self.app = app
        self.client = client
        self.user_id = user_id
        self.paths = PathLabels(max_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path") or "/"  # servers include root_path in it (ASGI spec)
        exchange = Exchange(
            self.client,
            method=str(scope.get("method") or "GET"),
            path=path,
            correlation=correlation_id(_header(scope)),
            endpoint=lambda status: (
                _route_template(scope, self.paths) or self.paths.label(path, status)
            ),
            logger_name=LOGGER_NAME,
        )

        async def send_and_time(message: Message) -> None:
            kind = message["type"]
            if kind == "http.response.start":
                exchange.status = int(message["status"])
            await send(message)
            last_chunk = kind in _BODY_MESSAGES and not message.get("more_body", False)
            if last_chunk or kind == "http.response.pathsend":
                exchange.complete()

        try:
            await self.app(scope, receive, send_and_time)
        except asyncio.CancelledError:
            # The server gave up on the request (daphne does when the client went away):
            # not a server error. 499 is nginx's "client closed request".
            if exchange.status is None:
                exchange.status = CLIENT_CLOSED
            raise
        except Exception as exc:
            exchange.failed(exc)
            raise
        finally:
            exchange.finish(lambda: self.user_id(scope))
