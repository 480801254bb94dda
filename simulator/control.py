"""The simulated bookmark manager's control API: the contract of
``remediation/actions/control.py``, served over real HTTP.

Each service has its own base URL, ``{root}/svc/{service}``, which is what it registers as
its ``control_url``; operations are ``POST {control_url}/control/{operation}`` and health is
``GET {control_url}/control/health``. An ``Idempotency-Key`` seen before gets the first
answer again without a second effect.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from simulator.deployment import SERVICES, ImportJob
from simulator.world import World

MAX_BODY_BYTES = 64 * 1024
REMEMBERED_KEYS = 10_000


class ControlError(ValueError):
    """A request the API refuses with 400 (unknown operation, bad parameters)."""


class ControlAPI:
    """Dispatch of control operations onto the world, with idempotency and a request log."""

    def __init__(
        self,
        world: World,
        *,
        retry_imports: Callable[[list[ImportJob]], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.world = world
        self.retry_imports = retry_imports
        self.clock = clock
        self.requests: list[dict[str, Any]] = []
        self._answers: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def health(self, service: str) -> dict[str, Any]:
        return self.world.health(service, self.clock())

    def perform(
        self, service: str, operation: str, body: dict[str, Any], key: str
    ) -> dict[str, Any]:
        if service not in SERVICES:
            raise ControlError(f"unknown service {service!r}")
        with self._lock:
            if key and key in self._answers:
                return {**self._answers[key], "replayed": True}
            params = body.get("params") or {}
            if not isinstance(params, dict):
                raise ControlError("params must be a JSON object")
            answer = {"ok": True, "service": service, "operation": operation,
                      **self._dispatch(service, operation, params)}  # fmt: skip
            self.requests.append({"service": service, "operation": operation, "body": body,
                                  "key": key, "at": self.clock()})  # fmt: skip
            if key:
                self._answers[key] = answer
                while len(self._answers) > REMEMBERED_KEYS:
                    self._answers.popitem(last=False)
            return answer

    def _dispatch(self, service: str, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        world = self.world
        if operation == "retry_import":
            batch_size = _int(params, "batch_size", 1, 100_000)
            world.batch_size = batch_size
            jobs = world.take_retries(str(params.get("import_id") or ""))
            self.retry_imports(jobs)
            return {"batch_size": batch_size, "retried": len(jobs)}
        if operation == "restart":
            instances = params.get("instances") or []
            if not isinstance(instances, list):
                raise ControlError("params.instances must be a list")
            return {"restarted": world.restart([str(i) for i in instances])}
        if operation in ("scale", "scale_rollback"):
            return {"replicas": world.scale(service, _int(params, "delta", -20, 20))}
        if operation == "clear_cache":
            cache = str(params.get("cache") or "default")
            return {"cleared": world.clear_cache(cache, str(params.get("pattern") or "*"))}
        if operation in ("feature_flag", "feature_flag_rollback"):
            flag = str(params.get("flag") or "")
            if flag not in world.flags:
                raise ControlError(f"unknown feature flag {flag!r}")
            previous = world.set_flag(flag, bool(params.get("enabled")))
            return {"flag": flag, "enabled": bool(params.get("enabled")), "previous": previous}
        if operation == "webhook/bookmarks/dedupe":
            return {"merged": world.dedupe()}
        raise ControlError(f"unknown operation {operation!r}")


def _int(params: dict[str, Any], name: str, low: int, high: int) -> int:
    value = params.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ControlError(f"params.{name} must be an integer in [{low}, {high}]")
    return value


def _handler(api: ControlAPI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # the simulator logs what matters itself
            pass

        def _route(self) -> tuple[str, str] | None:
            parts = self.path.split("?", 1)[0].strip("/").split("/", 3)
            if len(parts) == 4 and parts[0] == "svc" and parts[2] == "control":
                return parts[1], parts[3]
            return None

        def _send(self, status: int, body: dict[str, Any]) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self) -> None:
            route = self._route()
            if route is None or route[1] != "health" or route[0] not in SERVICES:
                self._send(404, {"ok": False, "error": "not found"})
                return
            self._send(200, api.health(route[0]))

        def do_POST(self) -> None:
            route = self._route()
            if route is None:
                self._send(404, {"ok": False, "error": "not found"})
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                self._send(400, {"ok": False, "error": "Content-Length is not a number"})
                return
            if length > MAX_BODY_BYTES:
                self._send(413, {"ok": False, "error": f"body over {MAX_BODY_BYTES} bytes"})
                return
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
                if not isinstance(body, dict):
                    raise ControlError("the body must be a JSON object")
                answer = api.perform(*route, body, self.headers.get("Idempotency-Key", ""))
            except (ValueError, ControlError) as exc:  # JSONDecodeError is a ValueError
                self._send(400, {"ok": False, "error": str(exc)})
                return
            self._send(200, answer)

    return Handler


class ControlServer:
    """The API on a real socket, in a daemon thread."""

    def __init__(self, api: ControlAPI, host: str = "127.0.0.1", port: int = 0) -> None:
        self.server = ThreadingHTTPServer((host, port), _handler(api))
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, name="simulator-control", daemon=True
        )

    @property
    def root_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def control_url(self, service: str) -> str:
        return f"{self.root_url}/svc/{service}"

    def start(self) -> ControlServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.thread.is_alive():  # shutdown() waits for a loop that must have started
            self.server.shutdown()
        self.server.server_close()
