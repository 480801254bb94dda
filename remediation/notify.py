"""Telling people: a Slack-compatible incoming webhook and e-mail when an incident opens,
when a fix waits for approval and when an incident resolves.

Nothing here runs inside the changing transaction: :func:`schedule` queues the Celery task
``remediation.tasks.notify`` with ``transaction.on_commit``, and the task re-reads the rows
and sends. A slow or broken webhook or mail server therefore never holds a lock or rolls a
change back; every failure is logged and swallowed (the incident page is the record, a
notification is a courtesy). Settings: ``aiops_site/settings_notify.py``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

import httpx
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.dispatch import receiver
from django.urls import reverse

from knowledge.models import Incident
from knowledge.signals import incident_changed
from remediation import page_text
from remediation.actions import action_title

logger = logging.getLogger(__name__)

Kind = Literal["opened", "approval", "resolved"]
RANK = {"info": 0, "warning": 1, "error": 2, "critical": 3}
HEADLINE = {
    "opened": "Incident opened",
    "approval": "Approval needed",
    "resolved": "Incident resolved",
}


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    url: str
    severity: str


def schedule(kind: Kind, incident_id: int, *, run_id: int | None = None) -> None:
    """Queue the notification for after the caller's transaction commits (at once outside
    one). Queueing failures (Redis down) are logged, never raised into the change."""

    def enqueue() -> None:
        from remediation.tasks import notify

        try:
            notify.delay(kind, incident_id, run_id)
        except Exception:  # noqa: BLE001  (any broker error: the change itself stands)
            logger.exception(
                "could not queue the %s notification of incident %s", kind, incident_id
            )

    if not wanted_anywhere():
        return
    transaction.on_commit(enqueue)


def wanted_anywhere() -> bool:
    return bool(settings.NOTIFY_SLACK_WEBHOOK_URL or settings.NOTIFY_EMAIL_TO)


@receiver(incident_changed, sender=Incident, dispatch_uid="remediation.notify_incident")
def on_incident_changed(
    sender: type[Incident], incident: Incident, change: str, details: dict[str, Any], **_: Any
) -> None:
    if change in ("opened", "resolved"):
        schedule(change, incident.pk)  # type: ignore[arg-type]


def message(kind: Kind, incident: Incident, run: Any = None) -> Message:
    """The words: headline, what, where, how bad, what to do, and the link."""
    url = settings.AIOPS_BASE_URL + reverse("dashboard:incident", args=[incident.pk])
    where = f" on {incident.service}" if incident.service else ""
    subject = f"[{incident.get_severity_display()}] {HEADLINE[kind]}: {incident.title}{where}"
    lines = [f"{HEADLINE[kind]}: {incident.title}{where} ({incident.get_severity_display()})"]
    if kind == "opened":
        lines.append(page_text.cause_line(incident.diagnosis))
        lines += page_text.opened_lines(incident)
    elif kind == "approval" and run is not None:
        target = "/".join(p for p in (run.service, run.instance) if p)
        fix = action_title(run.action)
        lines.append(f"Proposed fix: {fix} on {target or 'the service'} (risk {run.risk})")
        lines.append("Approve or reject it on the incident page.")
    elif kind == "resolved":
        lines.append(f"How: {incident.resolution or 'resolved'}")
    lines.append(url)
    return Message(subject=subject, text="\n".join(lines), url=url, severity=incident.severity)


def deliver(kind: Kind, incident_id: int, run_id: int | None = None) -> dict[str, str]:
    """Send to every channel whose bar the incident's severity reaches; what happened to each
    ("sent", "below threshold", "failed: ...", "off")."""
    from remediation.models import RemediationRun

    incident = Incident.objects.select_related("diagnosis").filter(pk=incident_id).first()
    if incident is None:
        return {}
    run = RemediationRun.objects.filter(pk=run_id).first() if run_id else None
    msg = message(kind, incident, run)
    s = settings
    return {
        "slack": _channel(msg, s.NOTIFY_SLACK_WEBHOOK_URL, s.NOTIFY_SLACK_MIN_SEVERITY, _slack),
        "email": _channel(msg, s.NOTIFY_EMAIL_TO, s.NOTIFY_EMAIL_MIN_SEVERITY, _email),
    }


def _channel(msg: Message, destination: Any, minimum: str, send: Any) -> str:
    if not destination:
        return "off"
    if RANK.get(msg.severity, 2) < RANK.get(minimum, 1):
        return "below threshold"
    try:
        send(msg, destination)
    except Exception as exc:  # noqa: BLE001  (a courtesy: log, never raise into the change)
        logger.warning("notification %r to %s failed: %s", msg.subject, send.__name__, exc)
        return f"failed: {exc}"
    return "sent"


def _slack(msg: Message, webhook_url: str) -> None:
    # Slack's incoming-webhook body; "text" is the fallback every compatible receiver shows.
    body = {
        "text": msg.text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{msg.subject}*"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": msg.text}},
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open incident"},
                        "url": msg.url,
                    }
                ],
            },  # fmt: skip
        ],
    }
    response = httpx.post(webhook_url, json=body, timeout=settings.NOTIFY_TIMEOUT_SECONDS)
    response.raise_for_status()


def _email(msg: Message, recipients: list[str]) -> None:
    send_mail(msg.subject[:200], msg.text, None, recipients, fail_silently=False)
