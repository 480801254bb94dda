"""Payload schemas of the system's own events: ``agent.*``, ``problem.*``, ``anomaly.*``,
``diagnosis.*`` and ``remediation.*``.

Only AI-Ops Core publishes these (the ingest edge refuses them from services), so their
payloads are strict: unknown fields are refused, and every producer builds its event through
the one constructor, :func:`agents.events.system_event`, which checks that the payload is
the model registered for the type. Consumers read typed fields with
``Model.model_validate(event.payload)`` instead of ``payload.get(...)``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class SystemPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- agent.* ---------------------------------------------------------------------------------


class AgentHeartbeat(SystemPayload):
    agent: str
    consumer: str
    status: str
    processed: int = 0
    errors: int = 0
    activity: str = ""
    health: dict[str, Any] = Field(default_factory=dict)


class AgentStatusChanged(SystemPayload):
    agent: str
    status: str
    previous: str | None = None


class AgentDown(SystemPayload):
    agent: str
    last_heartbeat: datetime
    silent_seconds: float


# --- problem.* -------------------------------------------------------------------------------


class ProblemChanged(SystemPayload):
    """``problem.created`` and ``problem.updated``: the problem's state after the change."""

    problem_id: int
    fingerprint: str
    title: str
    category: str
    severity: str
    status: str
    signal: str = ""
    occurrence_count: int = 0
    service: str = ""
    instance: str = ""
    reopened: bool = False
    changed: list[str] = Field(default_factory=list)
    merged: list[int] = Field(default_factory=list)


# --- anomaly.* -------------------------------------------------------------------------------


class AnomalyDetected(SystemPayload):
    anomaly_id: int
    series: str
    detector: str
    category: str
    score: float
    value: float
    expected: float | None = None
    expected_range: tuple[float | None, float | None] = (None, None)
    window_start: datetime
    window_end: datetime
    evidence: dict[str, Any] = Field(default_factory=dict)
    problem_id: int | None = None
    #: The service whose events showed the anomaly ("" when it spans several).
    service: str = ""


# --- diagnosis.* -----------------------------------------------------------------------------


class DiagnosisReady(SystemPayload):
    diagnosis: int
    problem: int
    fingerprint: str
    service: str
    instance: str = ""
    signal: str = ""
    root_cause: str = ""
    confidence: float
    suggestions: list[dict[str, Any]] = Field(default_factory=list)


# --- remediation.* ---------------------------------------------------------------------------

#: ``remediation.<status>`` for each run status (``remediation.models.RunStatus``).
REMEDIATION_STATUSES: tuple[str, ...] = (
    "proposed", "awaiting_approval", "approved", "rejected", "expired", "running",
    "verifying", "succeeded", "failed", "rolled_back", "escalated", "superseded",
)  # fmt: skip


class RunChanged(SystemPayload):
    """``remediation.<status>``: a remediation run moved to ``status``."""

    run: int
    rule: int | None
    diagnosis: int | None
    status: str
    service: str
    instance: str = ""
    signal: str = ""
    action: str
    risk: str
    confidence: float
    preview: str = ""
    reason: str = ""
    detail: str = ""


# --- incident.* ------------------------------------------------------------------------------

#: ``incident.<change>``: opened, a state it moved to, ``note`` (a new timeline row) or
#: ``retitled`` (its title followed its problem's as that generalised).
INCIDENT_CHANGES: tuple[str, ...] = (
    "opened", "acknowledged", "remediating", "resolved", "reopened", "note", "retitled",
)  # fmt: skip


class IncidentChanged(SystemPayload):
    """``incident.<change>``: an incident was opened, moved, or its timeline grew."""

    incident: int
    diagnosis: int
    service: str
    title: str
    severity: str
    state: str
    actor: str = ""
    reason: str = ""


class CircuitOpened(SystemPayload):
    rule: int
    name: str
    failures: int


class Notification(SystemPayload):
    run: int
    service: str
    signal: str = ""
    channel: str
    template: str = ""
    severity: str
    message: str = ""


SYSTEM_PAYLOADS: dict[str, type[SystemPayload]] = {
    "agent.heartbeat": AgentHeartbeat,
    "agent.status": AgentStatusChanged,
    "agent.down": AgentDown,
    "problem.created": ProblemChanged,
    "problem.updated": ProblemChanged,
    "anomaly.detected": AnomalyDetected,
    "diagnosis.ready": DiagnosisReady,
    **{f"remediation.{status}": RunChanged for status in REMEDIATION_STATUSES},
    "remediation.circuit_open": CircuitOpened,
    "remediation.notification": Notification,
    **{f"incident.{change}": IncidentChanged for change in INCIDENT_CHANGES},
}
#: The families only AI-Ops Core publishes.
SYSTEM_PREFIXES: tuple[str, ...] = (
    "agent.", "problem.", "diagnosis.", "remediation.", "anomaly.", "incident.",
)  # fmt: skip
