"""The cast and the stage for remediation tests.

* ``control`` — a real HTTP server in a thread serving the managed service's control API
  (``remediation/actions/control.py``), registered as service ``bookmarks`` in the service
  registry, recording every request; tests flip its health or make operations fail.
* ``approver`` / ``second_approver`` hold ``remediation.approve_run``; ``viewer`` does not.
* Celery runs tasks eagerly, so an approval's on-commit enqueue executes in the test.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from ulid import ULID

from agents.registry import register_instance
from aiops_site.celery import app as celery_app
from knowledge.models import Diagnosis, Problem, Solution
from remediation import safety
from remediation.models import RemediationSettings, Rule

pytestmark = pytest.mark.django_db(transaction=True)


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


@pytest.fixture(autouse=True)
def eager_tasks() -> Iterator[None]:
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager = False


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    safety.forget_settings()
    yield
    safety.forget_settings()


def set_safety(**fields: Any) -> RemediationSettings:
    row = RemediationSettings.load()
    for name, value in fields.items():
        setattr(row, name, value)
    row.save()
    safety.forget_settings()
    return row


def _with_perm(user: Any) -> Any:
    user.user_permissions.add(Permission.objects.get(codename="approve_run"))
    return type(user).objects.get(pk=user.pk)  # fresh: permissions are cached per object


@pytest.fixture
def approver(django_user_model):
    return _with_perm(django_user_model.objects.create_user("alice", password="pw-alice-123"))


@pytest.fixture
def second_approver(django_user_model):
    return _with_perm(django_user_model.objects.create_user("bob", password="pw-bob-123"))


def make_rule(**fields: Any) -> Rule:
    defaults: dict[str, Any] = {
        "name": f"rule-{ULID()}".lower(),
        "signal": "import_timeout",
        "action": "notify",
        "parameters": {},
        "confidence_threshold": 0.8,
        "risk": "low",
        "requires_approval": False,
        "max_runs": 100,
        "cooldown_seconds": 0,
        "verify_after_seconds": 0,
    }
    return Rule.objects.create(**{**defaults, **fields})


def make_diagnosis(
    signal: str = "import_timeout",
    confidence: float = 0.9,
    *,
    service: str = "bookmarks",
    instance: str = "web-1",
    with_solution: str | None = None,
) -> Diagnosis:
    problem, _ = Problem.objects.get_or_create(
        fingerprint=f"fp-{signal}",
        defaults={"title": signal, "signal": signal, "category": "import"},
    )
    suggestions = []
    if with_solution:
        solution, _ = Solution.objects.get_or_create(
            problem=problem, title=with_solution, defaults={"action": with_solution}
        )
        suggestions = [{"solution": solution.pk, "action": with_solution}]
    return Diagnosis.objects.create(
        problem=problem,
        service=service,
        instance=instance,
        trigger_event_id=str(ULID()),
        trigger_type="import.failed",
        root_cause=f"{signal} root cause",
        signal=signal,
        confidence=confidence,
        suggestions=suggestions,
    )
