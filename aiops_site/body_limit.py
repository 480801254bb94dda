"""Limits before reading: an ASGI guard that refuses oversized request bodies (413).

Django's ASGI handler reads a whole request body (into a spooled file) before any
middleware or view runs, so a size check in a view comes after the bytes were received:
1 GB without a token was read before the 401. This guard wraps the application in
``asgi.py`` and runs before Django, authentication and routing:

* a ``Content-Length`` over the path's limit (or not a number) is answered 413 at once,
  for any method (``GET /health`` with a 500 MB body included), without reading a byte;
* a body without a length (chunked) is counted as it streams in; past the limit the app is
  told the client went away (``http.disconnect``: Django drops the request) and the client
  gets the 413, with ``Connection: close`` so the server stops reading the rest.

Limits come from settings: ``REQUEST_BODY_LIMITS`` maps path prefixes to byte limits (the
ingest endpoints use ``INGEST_MAX_BODY_BYTES``), ``REQUEST_MAX_BODY_BYTES`` covers the rest.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def limit_for(path: str, default: int, by_prefix: Mapping[str, int]) -> int:
    """The longest matching prefix's limit, else the default."""
    matches = [prefix for prefix in by_prefix if path.startswith(prefix)]
    return by_prefix[max(matches, key=len)] if matches else default


def _declared_length(scope: Scope) -> bytes | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            return value
    return None


async def _refuse(send: Send, limit: int, declared: str) -> None:
    body = json.dumps(
        {"detail": f"request body is {declared} bytes; the limit is {limit} bytes"}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodySizeLimit:
    """ASGI middleware: 413 from the declared length, or once a streamed body passes it."""

    def __init__(
        self, app: ASGIApp, *, default: int, by_prefix: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.default = default
        self.by_prefix = dict(by_prefix or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = limit_for(scope["path"], self.default, self.by_prefix)
        declared = _declared_length(scope)
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _refuse(send, limit, declared.decode("latin-1")[:20])
            return
        await self._stream(scope, receive, send, limit)

    async def _stream(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        received = 0
        over = False
        started = False

        async def counted_receive() -> Message:
            nonlocal received, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    over = True  # the app sees a client that went away, and stops reading
                    return {"type": "http.disconnect"}
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, counted_receive, tracked_send)
        if over and not started:
            await _refuse(send, limit, f"more than {limit}")
