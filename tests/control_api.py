"""A managed service's control API for tests: a real HTTP server in a thread.

It serves the contract of ``remediation/actions/control.py`` (``POST /control/{operation}``
with an ``Idempotency-Key``, ``GET /control/health``), records every request, and is
registered as service ``bookmarks`` (instances ``web-1`` with the control URL, ``web-2``)
in the service registry. Tests flip its health or make operations fail or hang.

Used by ``tests/remediation`` (engine in-process) and ``tests/dashboard`` (a Celery worker
subprocess calls it over HTTP): both conftests re-export the ``control`` fixture.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from agents.service_registry import register_instance


@dataclass
class ControlState:
    health: str = "healthy"
    signals: dict[str, int] = field(default_factory=dict)
    fail: dict[str, int] = field(default_factory=dict)  # operation -> HTTP status to answer
    hang: set[str] = field(default_factory=set)  # operations that answer only when released
    release: threading.Event = field(default_factory=threading.Event)
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    def operations(self) -> list[str]:
        return [r["operation"] for r in self.requests]


def _handler(state: ControlState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: dict[str, Any]) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self) -> None:
            if self.path == "/control/health":
                self._send(200, {"status": state.health, "signals": state.signals})
            else:
                self._send(404, {"ok": False})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length) or b"{}")
            operation = self.path.removeprefix("/control/")
            state.requests.append(
                {"operation": operation, "body": body, "key": self.headers["Idempotency-Key"]}
            )
            if operation in state.hang:
                state.release.wait(30)
            status = state.fail.get(operation, 200)
            self._send(status, {"ok": status == 200, "operation": operation})

    return Handler


@pytest.fixture
def control() -> Iterator[ControlState]:
    state = ControlState()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    register_instance("bookmarks", "web-1", base_url=state.url, control_url=state.url)
    register_instance("bookmarks", "web-2", base_url=state.url)
    yield state
    state.release.set()
    server.shutdown()
    server.server_close()
