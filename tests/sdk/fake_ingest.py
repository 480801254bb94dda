"""A small ingest server speaking the HTTP contract of ``agents/ingest/api.py``, in a thread.

It records every request, accepts valid batches whole, and can be told to be down (503),
to answer a scripted status (429 with Retry-After, ...), to refuse batches over a size, to
take a while to answer.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = "test-token-123"
HEARTBEAT = re.compile(r"^/api/v1/services/([^/]+)/instances/([^/]+)/heartbeat$")


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: Any
    status: int
    at: float = field(default_factory=time.monotonic)

    @property
    def events(self) -> list[dict[str, Any]]:
        if isinstance(self.body, dict) and "events" in self.body:
            return self.body["events"]
        return [self.body]


@dataclass
class Reply:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)


class FakeIngest:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[Request] = []
        self.events: list[dict[str, Any]] = []  # accepted, in order
        self.registrations: dict[tuple[str, str], dict[str, Any]] = {}
        self.heartbeats: list[tuple[str, str]] = []
        self.down: int | None = None  # every events request answers this status
        self.script: deque[Reply] = deque()  # then these, one per events request
        self.max_events = 1000
        self.latency = 0.0  # seconds each events request takes, like a real server's answer
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        # A short poll interval: shutdown() waits for the loop to notice, 0.5 s by default.
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    # What the tests read ---------------------------------------------------------------------

    def event_requests(self) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.path == "/api/v1/events"]

    def accepted(self, event_type: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [e for e in self.events if event_type in (None, e["type"])]

    # The contract ----------------------------------------------------------------------------

    def answer(self, path: str, headers: dict[str, str], raw: bytes) -> Reply:
        if headers.get("authorization") != f"Bearer {TOKEN}":
            return Reply(401, body={"detail": "invalid or revoked token"})
        try:
            body = json.loads(raw)
        except ValueError:
            return Reply(400, body={"detail": "malformed JSON", "errors": []})
        if path == "/api/v1/events":
            return self._events(body)
        if path == "/api/v1/services/register":
            with self.lock:
                self.registrations[(body["service"], body["instance"])] = body
            return Reply(201, body={"status": "registered"})
        if match := HEARTBEAT.match(path):
            key = (match.group(1), match.group(2))
            with self.lock:
                if key not in self.registrations:
                    return Reply(404, body={"detail": "unknown instance"})
                self.heartbeats.append(key)
            return Reply(200, body={"status": "up"})
        return Reply(404, body={"detail": "not found"})

    def _events(self, body: Any) -> Reply:
        time.sleep(self.latency)
        if self.down is not None:
            return Reply(self.down, body={"detail": "unavailable"})
        with self.lock:
            scripted = self.script.popleft() if self.script else None
        if scripted is not None:
            return scripted
        events = body["events"] if isinstance(body, dict) and "events" in body else [body]
        if len(events) > self.max_events:
            return Reply(413, body={"detail": f"at most {self.max_events} events per request"})
        errors = []
        for index, event in enumerate(events):
            for name in ("id", "type", "source", "timestamp", "payload"):
                if name not in event:
                    errors.append({"field": f"events[{index}].{name}", "reason": "required"})
            if event.get("payload", {}).get("poison"):
                errors.append({"field": f"events[{index}].payload.poison", "reason": "poisoned"})
        if errors:
            return Reply(400, body={"detail": "invalid events", "errors": errors})
        with self.lock:
            self.events.extend(events)
        return Reply(202, body={"accepted": len(events), "ids": [e["id"] for e in events]})

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        ingest = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                reply = ingest.answer(self.path, headers, raw)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                with ingest.lock:
                    ingest.requests.append(Request(self.path, headers, body, reply.status))
                payload = json.dumps(reply.body).encode()
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass  # keep test output clean

        return Handler


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll until ``predicate()`` holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(0.005)
