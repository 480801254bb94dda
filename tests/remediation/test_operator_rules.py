"""Rules for any app, written by an operator in the admin, without code.

The application is one AI-Ops has no catalogue for: its errors go through the real
diagnostic agent, which names a generic cause class. The operator writes a rule in the admin
form (through the test client) matching that cause on the service and binds it to an
allow-listed Command (a real subprocess: a restart script and its undo) or to an allow-listed
webhook (a local HTTP server standing in for a feature-flag service or a CI pipeline). The
run waits for approval, runs once approved, is verified on the incident's symptom (the
service's control API health, ``tests/control_api.py``), and is rolled back when the symptom
persists. Rules for another service or another cause stay silent.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse

from agents import mesh
from agents.diagnostic.agent import BookmarkDiagnosticAgent
from agents.events import parse_event
from agents.runtime import AgentRunner
from knowledge import similarity
from knowledge.models import Diagnosis
from knowledge.seed import seed_knowledge
from remediation import engine
from remediation.models import AuditEntry, RemediationRun, Rule, RunStatus

pytestmark = pytest.mark.django_db(transaction=True)

SERVICE = "bookmarks"  # registered with a control API by the ``control`` fixture
CAUSE = "database-contention"

# The "restart": appends what it was asked to a log, as systemctl/docker/kubectl would act.
SCRIPT = """
import sys, pathlib
pathlib.Path(sys.argv[1]).open("a").write(" ".join(sys.argv[2:]) + "\\n")
"""


@dataclass
class Hooks:
    url: str = ""
    calls: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def hooks() -> Iterator[Hooks]:
    """A local HTTP server standing in for a feature-flag service / CI webhook receiver."""
    state = Hooks()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            state.calls.append({"path": self.path, "body": body, "headers": dict(self.headers)})
            answer = b'{"accepted": true}'
            self.send_response(202)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def allow_lists(settings, hooks, tmp_path) -> Path:
    """What the deployment lists: two commands and two webhooks. Returns the command log."""
    script, log = tmp_path / "restart.py", tmp_path / "restarts.log"
    script.write_text(SCRIPT)
    settings.REMEDIATION_COMMANDS = {
        "restart_web": {"argv": [sys.executable, str(script), str(log), "restart"]},
        "undo_restart": {"argv": [sys.executable, str(script), str(log), "undo"]},
    }
    settings.REMEDIATION_WEBHOOKS = {
        "imports_flag_off": {
            "url": f"{hooks.url}/flags/imports",
            "headers": {"Authorization": "Bearer flag-token"},
        },
        "imports_flag_on": {"url": f"{hooks.url}/flags/imports"},
    }
    return log


@pytest.fixture(autouse=True)
def seeded(monkeypatch):
    monkeypatch.setattr(similarity, "EXEMPLARS", similarity.ExemplarIndex())
    seed_knowledge()


def form(**fields: Any) -> dict[str, Any]:
    """The admin's add form as an operator fills it (unchecked boxes are simply absent)."""
    data = {
        "name": "restart-on-db-locks", "description": "", "enabled": "on",
        "service": SERVICE, "cause_class": CAUSE, "exception_type": "", "signal": "",
        "instances": "[]", "action": "command", "parameters": "{}",
        "risk": "medium", "requires_approval": "on", "confidence_threshold": "0.5",
        "verify_after_seconds": "0", "max_runs": "3", "window_seconds": "3600",
        "cooldown_seconds": "0", "problem_fingerprint": "", "category": "",
        "pattern_name": "", "threshold_min": "0.5", "threshold_max": "0.99",
        "threshold_step": "0.02",
    }  # fmt: skip
    data.update(fields)
    return {k: v for k, v in data.items() if v is not None}


def write_rule(admin_client, **fields: Any) -> Rule:
    response = admin_client.post(reverse("admin:remediation_rule_add"), form(**fields))
    errors = response.context["adminform"].form.errors if response.status_code == 200 else {}
    assert response.status_code == 302, errors
    return Rule.objects.get(name=fields.get("name", "restart-on-db-locks"))


def diagnose_db_locks(service: str = SERVICE) -> Diagnosis:
    """Four ``database is locked`` errors from the app, diagnosed by the real agent."""
    event = {
        "type": "log.line", "source": service, "instance": "web-1", "severity": "error",
        "payload": {"level": "ERROR", "logger": "django.request",
                    "message": "Internal Server Error: POST /api/bookmarks/",
                    "exception": {"type": "django.db.utils.OperationalError",
                                  "message": "database is locked", "frames": [
                                      {"module": "bookmarks.views", "function": "create",
                                       "lineno": 40, "context_line": "b.save()",
                                       "in_app": True}]}},
    }  # fmt: skip
    mesh.publish_many([parse_event(event) for _ in range(4)])
    runner = AgentRunner(BookmarkDiagnosticAgent())
    for _ in range(3):
        runner.run_once(block_ms=50)
    diagnosis = Diagnosis.objects.get(service=service)
    assert diagnosis.signal == CAUSE
    return diagnosis


def approve_in_admin(admin_client, run: RemediationRun) -> RemediationRun:
    admin_client.post(
        reverse("admin:remediation_remediationrun_changelist"),
        {"action": "approve_runs", "_selected_action": [run.pk]},
    )
    run.refresh_from_db()
    return run


def statuses(run: RemediationRun) -> list[str]:
    return [t.to_status for t in run.transitions.order_by("pk")]


COMMAND = {"command": "restart_web", "args": [SERVICE], "rollback_command": "undo_restart",
           "rollback_args": [SERVICE]}  # fmt: skip
WEBHOOK = {"webhook": "imports_flag_off", "body": {"flag": "imports", "enabled": False},
           "rollback_webhook": "imports_flag_on",
           "rollback_body": {"flag": "imports", "enabled": True}}  # fmt: skip


def acted(kind: str, allow_lists: Path, hooks: Hooks) -> list[str]:
    """What the outside world saw, in order: command lines, or webhook bodies' flag states."""
    if kind == "command":
        return allow_lists.read_text().splitlines() if allow_lists.exists() else []
    return ["off" if c["body"]["enabled"] is False else "on" for c in hooks.calls]


@pytest.mark.parametrize(
    ("kind", "parameters", "fixed", "seen", "end"),
    [
        ("command", COMMAND, True, ["restart bookmarks"], ["succeeded"]),
        ("command", COMMAND, False, ["restart bookmarks", "undo bookmarks"],
         ["failed", "rolled_back", "escalated"]),
        ("http_webhook", WEBHOOK, True, ["off"], ["succeeded"]),
        ("http_webhook", WEBHOOK, False, ["off", "on"], ["failed", "rolled_back", "escalated"]),
    ],
)  # fmt: skip
def test_an_operator_written_rule_waits_for_approval_acts_verifies_and_rolls_back(
    admin_client, control, allow_lists, hooks, kind, parameters, fixed, seen, end
):
    rule = write_rule(admin_client, action=kind, parameters=json.dumps(parameters))
    assert AuditEntry.objects.filter(kind="rule.changed", rule_id=rule.pk).exists()
    diagnosis = diagnose_db_locks()

    [run] = engine.propose_for_diagnosis(diagnosis.pk)

    assert run.status == RunStatus.AWAITING_APPROVAL
    assert ("restart" if kind == "command" else "imports_flag_off") in run.preview
    assert acted(kind, allow_lists, hooks) == []  # nothing happens before a human says so
    if not fixed:  # the app still reports its symptom after the action
        control.signals = {CAUSE: 12}

    run = approve_in_admin(admin_client, run)

    assert statuses(run) == ["awaiting_approval", "approved", "running", "verifying", *end]
    assert acted(kind, allow_lists, hooks) == seen
    verdict = run.transitions.get(to_status=end[0]).reason
    assert ("no new occurrences" in verdict) if fixed else (f"{CAUSE} (12/min)" in verdict)
    if kind == "http_webhook":
        first = hooks.calls[0]
        assert first["path"] == "/flags/imports"
        assert first["headers"]["Authorization"] == "Bearer flag-token"
        assert (
            first["headers"]["Idempotency-Key"] == f"remediation-{run.pk}-imports_flag_off-execute"
        )


def test_a_rule_in_dry_run_is_approved_and_verified_but_never_acts(
    admin_client, control, allow_lists, hooks
):
    write_rule(admin_client, parameters=json.dumps(COMMAND), dry_run="on")

    [run] = engine.propose_for_diagnosis(diagnose_db_locks().pk)
    run = approve_in_admin(admin_client, run)

    assert run.dry_run and run.status == RunStatus.SUCCEEDED
    assert acted("command", allow_lists, hooks) == []


def test_rules_for_another_service_or_cause_do_not_fire(admin_client, control, allow_lists):
    params = json.dumps(COMMAND)
    write_rule(admin_client, name="other-service", service="shop", parameters=params)
    write_rule(admin_client, name="other-cause", cause_class="upstream-dependency",
               parameters=params)  # fmt: skip
    write_rule(admin_client, name="other-exception", cause_class="",
               exception_type="TimeoutError", parameters=params)  # fmt: skip
    write_rule(admin_client, name="by-exception", cause_class="",
               exception_type="OperationalError", parameters=params)  # fmt: skip
    write_rule(admin_client, name="by-both", exception_type="django.db.utils.OperationalError",
               parameters=params)  # fmt: skip

    runs = engine.propose_for_diagnosis(diagnose_db_locks().pk)

    assert sorted(r.rule.name for r in runs) == ["by-both", "by-exception"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"action": "reboot_the_world"}, "Select a valid choice"),
        ({"parameters": json.dumps({"command": "rm_everything"})},
         "command &#x27;rm_everything&#x27; is not in REMEDIATION_COMMANDS"),
        ({"parameters": json.dumps({**COMMAND, "rollback_command": "drop_db"})},
         "command &#x27;drop_db&#x27; is not in REMEDIATION_COMMANDS"),
        ({"action": "http_webhook", "parameters": json.dumps({"webhook": "pay_everyone"})},
         "webhook &#x27;pay_everyone&#x27; is not in REMEDIATION_WEBHOOKS"),
        ({"parameters": json.dumps({**COMMAND, "args": ["x; rm -rf /"]})}, "is not allowed"),
        ({"cause_class": "", "parameters": json.dumps(COMMAND)},
         "Say what the rule matches"),
    ],
)  # fmt: skip
def test_the_admin_refuses_a_rule_that_could_not_run(admin_client, allow_lists, fields, message):
    response = admin_client.post(reverse("admin:remediation_rule_add"), form(**fields))

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Rule.objects.exists()


def test_the_rule_form_reads_as_what_it_matches_and_what_it_does(admin_client):
    page = admin_client.get(reverse("admin:remediation_rule_add")).content.decode()

    for text in (
        "What it matches",
        "What it does",
        "Safety",
        "Database contention",
        "Call an allow-listed webhook (http_webhook)",
        "Run an allow-listed command (command)",
        "Dry run",
        "Verify after seconds",
    ):
        assert text in page, text  # fmt: skip
