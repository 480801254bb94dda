"""What the SDK's WSGI and ASGI middlewares add to a request, in-process (no sockets).

The same small app with and without the middleware, called alternately in rounds so both
see the same machine load (the cores are shared): Flask through Werkzeug's test client,
FastAPI called as an ASGI app with a minimal HTTP scope. The middleware emits into a real
:class:`aiops_sdk.AIOpsClient` (event built and serialised in ``emit``) pointed at a closed
port: its sender's attempts are refused at once and back off (its warnings on stderr are
expected), so the figure is the request path's cost, not the network's.
Printed: the median microseconds per request of each, the difference and the ratio, and the
cost of labelling a raw path (``aiops_sdk.paths``).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from typing import Any

from aiops_sdk import AIOpsClient
from aiops_sdk.asgi import AIOpsMiddleware as ASGIMiddleware
from aiops_sdk.paths import PathLabels
from aiops_sdk.wsgi import AIOpsMiddleware as WSGIMiddleware

ROUNDS = 7
REQUESTS = 2_000


def _client() -> AIOpsClient:
    # Nothing listens on port 9: emit() buffers, the sender's tries are refused at once.
    return AIOpsClient(
        "http://127.0.0.1:9",
        "-",
        service="bench",
        instance="bench-1",
        flush_interval=3600,
        batch_size=10**6,
        max_buffer=10**6,
    )


def _flask(client: AIOpsClient | None) -> Callable[[int], Any]:
    from flask import Flask

    app = Flask("bench")

    @app.get("/items/<int:id>")
    def item(id: int) -> dict[str, int]:
        return {"id": id}

    if client is not None:
        app.wsgi_app = WSGIMiddleware(app.wsgi_app, client)  # type: ignore[method-assign]
    http = app.test_client()
    return lambda n: http.get(f"/items/{n}").close()


def _fastapi(client: AIOpsClient | None) -> Callable[[int], Any]:
    from fastapi import FastAPI

    api = FastAPI()

    @api.get("/items/{id}")
    async def item(id: int) -> dict[str, int]:
        return {"id": id}

    app: Any = ASGIMiddleware(api, client) if client is not None else api
    loop = asyncio.new_event_loop()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        pass

    def call(n: int) -> None:
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": "GET", "scheme": "http", "path": f"/items/{n}", "raw_path": b"",
            "root_path": "", "query_string": b"", "headers": [(b"host", b"bench")],
            "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
        }  # fmt: skip
        loop.run_until_complete(app(scope, receive, send))

    return call


def _per_request_us(call: Callable[[int], Any]) -> float:
    started = time.perf_counter()
    for n in range(REQUESTS):
        call(n)
    return (time.perf_counter() - started) / REQUESTS * 1e6


def _compare(name: str, make: Callable[[AIOpsClient | None], Callable[[int], Any]]) -> None:
    client = _client()
    bare, wrapped = make(None), make(client)
    bare(0), wrapped(0)  # warm up: imports, route compilation
    times: dict[str, list[float]] = {"bare": [], "wrapped": []}
    for _ in range(ROUNDS):
        times["bare"].append(_per_request_us(bare))
        times["wrapped"].append(_per_request_us(wrapped))
    plain, timed = statistics.median(times["bare"]), statistics.median(times["wrapped"])
    print(
        f"{name}: {plain:.1f} us/request bare, {timed:.1f} with the middleware "
        f"(+{timed - plain:.1f} us, x{timed / plain:.2f}; medians of {ROUNDS} alternating "
        f"rounds of {REQUESTS}); events buffered: {client.stats.buffered}"
    )
    client.close(timeout=0)


def _labels() -> None:
    labels = PathLabels()
    paths = [f"/orders/{n}/lines/{n * 7:x}aa01/notes" for n in range(20_000)]
    started = time.perf_counter()
    for path in paths:
        labels.label(path)
    spent = (time.perf_counter() - started) / len(paths) * 1e6
    print(f"path label (no route template): {spent:.2f} us per path, labels: {len(labels._seen)}")


def main() -> None:
    _compare("flask (werkzeug test client)", _flask)
    _compare("fastapi (ASGI call, no server)", _fastapi)
    _labels()


if __name__ == "__main__":
    main()
