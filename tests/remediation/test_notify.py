"""Notifications: a Slack-compatible incoming webhook (a real HTTP server in a thread) and
e-mail (Django's locmem backend) on incident opened / approval needed / resolved; only after
commit, per-severity thresholds, and failures that are logged, never raised."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail
from django.db import transaction

from knowledge import services
from knowledge.models import Incident, Problem
from remediation import engine, notify
from remediation.models import RunStatus
from tests.remediation.conftest import make_diagnosis, make_rule

pytestmark = pytest.mark.django_db(transaction=True)


class Webhook:
    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.status = 200
        self.received = threading.Event()


@pytest.fixture
def webhook() -> Iterator[tuple[Webhook, str]]:
    hook = Webhook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802  (http.server's name)
            length = int(self.headers["Content-Length"])
            assert self.headers["Content-Type"] == "application/json"
            hook.bodies.append(json.loads(self.rfile.read(length)))
            self.send_response(hook.status)
            self.end_headers()
            self.wfile.write(b"ok" if hook.status == 200 else b"invalid_token")
            hook.received.set()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield hook, f"http://127.0.0.1:{server.server_address[1]}/services/T000/B000/xyz"
    server.shutdown()
    server.server_close()


@pytest.fixture
def configured(settings, webhook):
    hook, url = webhook
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.AIOPS_BASE_URL = "https://ops.example.com"
    settings.NOTIFY_SLACK_WEBHOOK_URL = url
    settings.NOTIFY_EMAIL_TO = ["oncall@example.com", "lead@example.com"]
    settings.NOTIFY_SLACK_MIN_SEVERITY = "warning"
    settings.NOTIFY_EMAIL_MIN_SEVERITY = "warning"
    return hook


def critical_diagnosis(signal: str = "import_timeout"):
    diagnosis = make_diagnosis(signal)
    Problem.objects.filter(pk=diagnosis.problem_id).update(severity="critical")
    diagnosis.refresh_from_db()
    return diagnosis


def test_an_opened_incident_is_announced_after_commit_with_a_link(configured):
    with transaction.atomic():
        incident = services.open_incident(critical_diagnosis())
        # Inside the transaction nothing has gone out (and nothing would if it rolled back).
        assert configured.bodies == [] and mail.outbox == []

    link = f"https://ops.example.com/incidents/{incident.pk}/"
    [body] = configured.bodies
    assert body["text"].startswith("Incident opened: import_timeout on bookmarks (Critical)")
    assert "Cause: import_timeout root cause" in body["text"] and link in body["text"]
    assert body["blocks"][2]["elements"][0]["url"] == link
    [email] = mail.outbox
    assert email.to == ["oncall@example.com", "lead@example.com"]
    assert email.subject == "[Critical] Incident opened: import_timeout on bookmarks"
    assert link in email.body


def test_a_rolled_back_change_sends_nothing(configured):
    with pytest.raises(RuntimeError), transaction.atomic():
        services.open_incident(critical_diagnosis())
        raise RuntimeError("the diagnostic agent failed after opening it")

    assert configured.bodies == [] and mail.outbox == []


def test_approval_needed_names_the_fix(configured):
    make_rule(action="clear_cache", requires_approval=True, risk="medium")
    [run] = engine.propose_for_diagnosis(critical_diagnosis().pk)
    run.refresh_from_db()
    assert run.status == RunStatus.AWAITING_APPROVAL

    texts = [b["text"] for b in configured.bodies]
    assert texts[0].startswith("Incident opened")
    assert texts[1].startswith("Approval needed: import_timeout on bookmarks")
    assert "Proposed fix: Clear cache on bookmarks/web-1 (risk medium)" in texts[1]
    assert [m.subject.split(":")[0] for m in mail.outbox] == [
        "[Critical] Incident opened",
        "[Critical] Approval needed",
    ]


def test_a_resolved_incident_says_how(configured):
    incident = services.open_incident(critical_diagnosis())

    assert services.resolve(incident, note="restarted the importer by hand")

    assert configured.bodies[-1]["text"].startswith("Incident resolved: import_timeout")
    assert "How: restarted the importer by hand" in configured.bodies[-1]["text"]
    assert mail.outbox[-1].subject.startswith("[Critical] Incident resolved")


def test_each_channel_has_its_own_severity_bar(configured, settings):
    settings.NOTIFY_SLACK_MIN_SEVERITY = "critical"
    settings.NOTIFY_EMAIL_MIN_SEVERITY = "error"
    error = services.open_incident(make_diagnosis("disk_full"))  # an "error" problem
    assert error.severity == "error"

    assert configured.bodies == []  # below Slack's bar
    assert [m.subject for m in mail.outbox] == ["[Error] Incident opened: disk_full on bookmarks"]

    assert notify.deliver("opened", error.pk) == {"slack": "below threshold", "email": "sent"}
    settings.NOTIFY_EMAIL_MIN_SEVERITY = "critical"
    assert notify.deliver("opened", error.pk) == {
        "slack": "below threshold",
        "email": "below threshold",
    }


def test_a_failing_webhook_is_logged_and_the_incident_still_opens(configured, caplog):
    configured.status = 500
    caplog.set_level(logging.WARNING, logger="remediation.notify")

    incident = services.open_incident(critical_diagnosis())

    assert Incident.objects.filter(pk=incident.pk, state="diagnosed").exists()
    assert len(configured.bodies) == 1  # it was tried
    assert "500 Internal Server Error" in caplog.text and "failed" in caplog.text
    assert len(mail.outbox) == 1  # the other channel still went out


def test_an_unreachable_webhook_and_a_broken_mail_server_are_logged(configured, settings, caplog):
    settings.NOTIFY_SLACK_WEBHOOK_URL = "http://127.0.0.1:9/hook"  # discard port: refused
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2
    caplog.set_level(logging.WARNING, logger="remediation.notify")

    incident = services.open_incident(critical_diagnosis())

    outcome = notify.deliver("opened", incident.pk)
    assert outcome["slack"].startswith("failed") and outcome["email"].startswith("failed")
    assert caplog.text.count("failed") >= 4  # twice each: on open, and here


def test_nothing_is_queued_without_a_destination(settings, webhook):
    settings.NOTIFY_SLACK_WEBHOOK_URL = ""
    settings.NOTIFY_EMAIL_TO = []

    services.open_incident(critical_diagnosis())

    assert webhook[0].bodies == [] and mail.outbox == []
    assert not notify.wanted_anywhere()
