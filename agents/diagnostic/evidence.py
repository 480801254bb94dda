"""Reading a triggering event: its error text, structured exception, category and service."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from agents import mesh
from agents.events import Event
from agents.payloads import ExceptionInfo
from agents.system_events import AnomalyDetected

# (pattern, category, severity): first match wins. Words, not services, so it generalises.
_CLASSIFIERS: list[tuple[re.Pattern[str], str, str]] = [
    (re.compile(r"duplicate key|unique constraint|already exists|integrity", re.I),
     "data-integrity", "error"),
    (re.compile(r"out of memory|oom|memoryerror|memory limit|cannot allocate", re.I),
     "capacity", "critical"),
    (re.compile(r"no space left|disk full|quota exceeded", re.I), "capacity", "critical"),
    (re.compile(r"certificate|ssl|tls|x509", re.I), "security", "critical"),
    (re.compile(r"permission denied|forbidden|unauthori[sz]ed|csrf", re.I), "security", "error"),
    (re.compile(r"timed? ?out|timeout|deadline exceeded|too slow", re.I), "performance", "error"),
    (re.compile(r"connection (refused|reset)|unreachable|unavailable|pool exhausted|"
                r"too many connections|5\d\d|bad gateway", re.I), "availability", "error"),
    (re.compile(r"parse|malformed|invalid|decode|encoding|unexpected token|schema", re.I),
     "data-integrity", "warning"),
    (re.compile(r"config|setting|feature flag|environment variable", re.I),
     "configuration", "error"),
]  # fmt: skip


def classify_error(message: str, event_type: str = "") -> tuple[str, str]:
    """A category of the knowledge graph's taxonomy and a severity for an error text."""
    if event_type.startswith("import."):
        for pattern, category, severity in _CLASSIFIERS:
            if pattern.search(message):
                return ("import" if category in {"performance", "capacity"} else category), severity
        return "import", "error"
    for pattern, category, severity in _CLASSIFIERS:
        if pattern.search(message):
            return category, severity
    return "other", "error"


def error_text(event: Event) -> str | None:
    """The text to fingerprint for a triggering event, or None when it is not an error."""
    payload = event.payload
    if event.type == "import.failed":
        kind = payload.get("error_type")
        return f"{kind}: {payload['error']}" if kind else str(payload["error"])
    if event.type == "log.line":
        if str(payload.get("level", "")).upper() not in {"ERROR", "CRITICAL", "FATAL"}:
            return None
        return str(payload["message"])
    if event.type == "alert.firing":
        summary = payload.get("annotations", {}).get("summary") or payload.get("alertname")
        return f"alert {payload.get('alertname')}: {summary}"
    if event.type == "anomaly.detected":
        return f"Anomaly on {AnomalyDetected.model_validate(payload).series}"
    return None


def exception_of(event: Event) -> dict[str, Any] | None:
    """The structured exception an error event carries (``log.line``, ``import.failed``)."""
    raw = event.payload.get("exception") if event.type in ("log.line", "import.failed") else None
    if not raw:
        return None
    # Validated at the edge; parsed again for typed fields and the defaults filled in.
    return ExceptionInfo.model_validate(raw).model_dump()


def service_of(event: Event) -> str:
    """The service a diagnosis of this event belongs to: the one that emitted the evidence.

    An anomaly is published by AI-Ops itself; the service is the one whose events it was
    found in (``service`` in its payload), never ``aiops``.
    """
    if event.type == "anomaly.detected":
        payload = event.payload
        return str(payload.get("service") or (payload.get("evidence") or {}).get("service") or "")
    return event.source


def requests_served(service: str, since: datetime, until: datetime, cap: int) -> int:
    """Requests ``service`` answered between two times (read from ``events:api.request``),
    counted up to ``cap``: how much traffic went through a change before an error began."""
    served = 0
    # An end id without a sequence takes the whole millisecond (every entry added in it).
    end = str(int(until.timestamp() * 1000))
    for delivery in mesh.replay("api.request", since=since, until=end):
        if delivery.event.source == service:
            served += 1
            if served >= cap:
                break
    return served
