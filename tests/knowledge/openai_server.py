"""A local HTTP server that speaks the OpenAI embeddings and chat-completions protocols.

Request and response shapes follow the OpenAI API reference: ``POST /v1/embeddings`` with
``{"model", "input": [...], "dimensions"?}`` answers ``{"object": "list", "data": [{"object":
"embedding", "index": i, "embedding": [...]}], "model", "usage"}``; ``POST
/v1/chat/completions`` with ``{"model", "messages": [...]}`` answers ``{"id", "object":
"chat.completion", "choices": [{"index": 0, "message": {"role": "assistant", "content"},
"finish_reason": "stop"}], "usage"}``. ``mode`` switches failure behaviour for a test.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class ServerState:
    """What the server does next (``mode``) and what it received (``requests``)."""

    mode: str = "ok"  # ok | error | slow | no-dimensions | shuffled | bad-payload
    native_dimensions: int = 1536
    slow_seconds: float = 3.0
    reply: str = "Import timeouts rose after the 2 GB upload limit was raised."
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""


def _vector(text: str, size: int) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [((digest[i % 32] + i) % 17 - 8) / 8.0 for i in range(size)]


def _handler(state: ServerState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            return

        def _send(self, status: int, body: dict[str, Any]) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            state.requests.append(
                {"path": self.path, "body": body, "auth": self.headers.get("Authorization")}
            )
            if state.mode == "error":
                self._send(500, {"error": {"message": "model overloaded", "type": "server"}})
                return
            if state.mode == "slow":
                time.sleep(state.slow_seconds)
            if self.path == "/v1/embeddings":
                self._embeddings(body)
            elif self.path == "/v1/chat/completions":
                self._chat(body)
            else:
                self._send(404, {"error": {"message": f"no route {self.path}"}})

        def _embeddings(self, body: dict[str, Any]) -> None:
            if state.mode == "no-dimensions" and "dimensions" in body:
                self._send(400, {"error": {"message": "Unrecognized request argument: dimensions"}})
                return
            texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
            size = int(body.get("dimensions") or state.native_dimensions)
            data = [
                {"object": "embedding", "index": i, "embedding": _vector(text, size)}
                for i, text in enumerate(texts)
            ]
            if state.mode == "shuffled":
                data.reverse()
            self._send(
                200,
                {
                    "object": "list",
                    "data": data,
                    "model": body.get("model"),
                    "usage": {"prompt_tokens": len(texts), "total_tokens": len(texts)},
                },
            )

        def _chat(self, body: dict[str, Any]) -> None:
            if state.mode == "bad-payload":
                self._send(200, {"id": "x", "object": "chat.completion", "choices": []})
                return
            self._send(
                200,
                {
                    "id": "chatcmpl-1",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body.get("model"),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": state.reply},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
                },
            )

    return Handler


@contextmanager
def openai_server() -> Iterator[ServerState]:
    """Run the server on a free loopback port for the duration of the block."""
    state = ServerState()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
