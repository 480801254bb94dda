"""Small Flask and FastAPI apps with the SDK's middleware, served by real servers in threads.

The Flask app runs under Werkzeug's own threaded server, the FastAPI app under uvicorn; both
report through an :class:`~aiops_sdk.AIOpsClient` the test hands them (pointed at the live
ingest API). The apps have the same routes so the tests can ask the same of both.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn
from fastapi import FastAPI, WebSocket
from fastapi.responses import StreamingResponse
from flask import Flask, Response, request, stream_with_context
from starlette.applications import Starlette
from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    SimpleUser,
)
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from werkzeug.serving import make_server

from aiops_sdk import AIOpsClient
from aiops_sdk.asgi import AIOpsMiddleware as ASGIMiddleware
from aiops_sdk.flask import instrument
from aiops_sdk.wsgi import AIOpsMiddleware as WSGIMiddleware

SLOW_SECONDS = 0.2
STREAM_CHUNKS = 3
CHUNK_SECONDS = 0.1


class StockLedgerError(RuntimeError):
    """The app's own exception: grouped by its type and the in-app frames it went through."""


def reserve_stock(item: int) -> None:
    raise StockLedgerError(f"stock ledger for item {item} is locked")


def bearer(header: str | None) -> str | None:
    """The user a (toy) ``Authorization: Bearer <name>`` header names."""
    scheme, _, name = (header or "").partition(" ")
    return name if scheme == "Bearer" and name else None


class BearerAuth(AuthenticationBackend):
    async def authenticate(self, conn: HTTPConnection) -> Any:
        user = bearer(conn.headers.get("Authorization"))
        return (AuthCredentials(["authenticated"]), SimpleUser(user)) if user else None


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


#: The price service the shop calls: nothing listens there, so calls are refused (a real
#: ConnectionRefusedError from the kernel, as when an upstream is down).
PRICE_SERVICE = ("127.0.0.1", _closed_port())


def fetch_price(item: int) -> float:
    with socket.create_connection(PRICE_SERVICE, timeout=2) as upstream:
        upstream.sendall(f"PRICE {item}\n".encode())
        return float(upstream.recv(64))


def flask_app(client: AIOpsClient, *, helper: bool = False) -> Flask:
    """The shop in Flask, wrapped by hand (``app.wsgi_app = AIOpsMiddleware(...)``) or, with
    ``helper``, by ``aiops_sdk.flask.instrument``."""
    app = Flask("shop")

    @app.before_request
    def sign_in() -> None:
        # What an auth layer does for the middleware: the user in CGI's REMOTE_USER.
        user = bearer(request.headers.get("Authorization"))
        if user:
            request.environ["REMOTE_USER"] = user

    @app.get("/items/<int:id>")
    def show_item(id: int) -> dict[str, Any]:
        return {"id": id}

    @app.get("/slow")
    def slow() -> dict[str, Any]:
        time.sleep(SLOW_SECONDS)
        return {"slow": True}

    @app.post("/items/<int:id>/reserve")
    def reserve(id: int) -> dict[str, Any]:
        reserve_stock(id)
        return {"reserved": id}

    @app.get("/items/<int:id>/price")
    def price(id: int) -> dict[str, Any]:
        return {"id": id, "price": fetch_price(id)}

    @app.get("/stream")
    def stream() -> Response:
        def chunks() -> Iterator[str]:
            for n in range(STREAM_CHUNKS):
                time.sleep(CHUNK_SECONDS)
                yield f"chunk {n}\n"

        return Response(stream_with_context(chunks()), mimetype="text/plain")

    # The two lines an operator adds (the client is made once, beside the app).
    if helper:
        return instrument(app, client)
    app.wsgi_app = WSGIMiddleware(app.wsgi_app, client)  # type: ignore[method-assign]
    return app


def starlette_app(client: AIOpsClient) -> Any:
    """The shop in plain Starlette: its items under a ``Mount`` (route templates relative to
    it, with convertors: ``/{id:int}``), the middleware added inside Starlette's own stack
    (so inside the error middleware that writes the 500 page)."""

    async def show_item(request: Request) -> JSONResponse:
        return JSONResponse({"id": request.path_params["id"]})

    def slow(request: Request) -> JSONResponse:
        time.sleep(SLOW_SECONDS)
        return JSONResponse({"slow": True})

    async def reserve(request: Request) -> JSONResponse:
        reserve_stock(request.path_params["id"])
        return JSONResponse({"reserved": True})

    async def stream(request: Request) -> StreamingResponse:
        async def chunks() -> Any:
            for n in range(STREAM_CHUNKS):
                await asyncio.sleep(CHUNK_SECONDS)
                yield f"chunk {n}\n"

        return StreamingResponse(chunks(), media_type="text/plain")

    items = [Route("/{id:int}", show_item), Route("/{id:int}/reserve", reserve, methods=["POST"])]
    app = Starlette(
        routes=[Mount("/items", routes=items), Route("/slow", slow), Route("/stream", stream)]
    )
    app.add_middleware(AuthenticationMiddleware, backend=BearerAuth())
    app.add_middleware(ASGIMiddleware, client=client)  # added last: the outermost
    return app


def fastapi_app(client: AIOpsClient, lifespan_log: list[str]) -> Any:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        lifespan_log.append("startup")
        yield
        lifespan_log.append("shutdown")

    app = FastAPI(lifespan=lifespan)
    app.add_middleware(AuthenticationMiddleware, backend=BearerAuth())

    @app.get("/items/{id}")
    async def show_item(id: int) -> dict[str, Any]:
        return {"id": id}

    @app.get("/slow")
    def slow() -> dict[str, Any]:
        time.sleep(SLOW_SECONDS)  # a sync endpoint: FastAPI runs it in its thread pool
        return {"slow": True}

    @app.post("/items/{id}/reserve")
    async def reserve(id: int) -> dict[str, Any]:
        reserve_stock(id)
        return {"reserved": id}

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def chunks() -> Any:
            for n in range(STREAM_CHUNKS):
                await asyncio.sleep(CHUNK_SECONDS)
                yield f"chunk {n}\n"

        return StreamingResponse(chunks(), media_type="text/plain")

    @app.websocket("/echo")
    async def echo(socket: WebSocket) -> None:
        await socket.accept()
        await socket.send_text("echo: " + await socket.receive_text())
        await socket.close()

    return ASGIMiddleware(app, client)


class ThreadedServer:
    """A real server in a daemon thread: ``url`` while it runs, ``stop()`` to end it."""

    def __init__(self, serve: Any, stop: Any, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self._stop = stop
        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop()
        self._thread.join(timeout=10)


def serve_wsgi(app: Any, *, threaded: bool = True) -> ThreadedServer:
    """Werkzeug's server; ``threaded=False`` handles one request at a time, body closed
    before the next is read (so events leave in the order the requests were made)."""
    server = make_server("127.0.0.1", 0, app, threaded=threaded)
    return ThreadedServer(server.serve_forever, server.shutdown, server.server_port)


def serve_asgi(app: Any) -> ThreadedServer:
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    runner = ThreadedServer(server.run, lambda: setattr(server, "should_exit", True), 0)
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not runner._thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    runner.url = f"http://127.0.0.1:{port}"
    return runner


def bare_wsgi_app(client: AIOpsClient, max_paths: int, **options: Any) -> Any:
    """A WSGI callable with no framework and no routes: every path answers 200."""

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    return WSGIMiddleware(app, client, max_paths=max_paths, **options)


def bare_asgi_app(client: AIOpsClient, max_paths: int, **options: Any) -> Any:
    """An ASGI 3 coroutine with no framework and no routes: every path answers 200."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                kind = (await receive())["type"]  # lifespan.startup, then lifespan.shutdown
                await send({"type": kind + ".complete"})
                if kind == "lifespan.shutdown":
                    return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    return ASGIMiddleware(app, client, max_paths=max_paths, **options)


def mounted_shops_app(client: AIOpsClient, max_paths: int) -> Any:
    """Starlette with a ``Mount`` whose prefix has a parameter: ``/shops/{shop}/items/{id}``."""

    async def item(request: Request) -> JSONResponse:
        return JSONResponse(dict(request.path_params))

    shop = Mount("/shops/{shop}", routes=[Route("/items/{id:int}", item)])
    return ASGIMiddleware(Starlette(routes=[shop]), client, max_paths=max_paths)
