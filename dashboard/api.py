"""Incidents in the HTTP API, for scripts and other tools: ``GET /api/v1/incidents`` and
``GET /api/v1/incidents/{id}``, mounted by ``aiops_site/api.py``.

The router lives here rather than in knowledge because an incident's detail includes its
remediation runs, and knowledge may not import remediation. Like the knowledge router it
declares no authentication: the mounting API puts it behind an API token with the
``incidents`` scope or a staff session. Read only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.urls import reverse
from ninja import Query, Router, Schema
from pydantic import Field

from dashboard.incidents import run_reason
from knowledge.incident_text import hypothesis_sentence
from knowledge.models import Incident, IncidentState
from remediation.models import RemediationRun

MAX_LIMIT = 500


class IncidentFilters(Schema):
    state: IncidentState | None = None
    service: str = Field(default="", max_length=100)
    since: datetime | None = Field(default=None, description="Opened at or after (ISO 8601).")
    limit: int = Field(default=100, ge=1, le=MAX_LIMIT)
    offset: int = Field(default=0, ge=0)


class IncidentOut(Schema):
    id: int
    title: str
    service: str
    severity: str
    state: str
    opened_at: datetime
    updated_at: datetime
    acknowledged_by: str
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    resolution: str
    url: str


class IncidentPage(Schema):
    count: int
    items: list[IncidentOut]


class TimelineEntryOut(Schema):
    at: datetime
    kind: str
    from_state: str
    to_state: str
    text: str
    actor: str
    run: int | None


class HypothesisOut(Schema):
    sentence: str
    cause: str
    kind: str
    score: float | None
    problem: int | None


class RunOut(Schema):
    id: int
    action: str
    status: str
    risk: str
    confidence: float
    reason: str
    created_at: datetime
    finished_at: datetime | None


class IncidentDetailOut(IncidentOut):
    root_cause: str
    confidence: float
    timeline: list[TimelineEntryOut]
    hypotheses: list[HypothesisOut]
    runs: list[RunOut]


router = Router(tags=["incidents"])


def _summary(incident: Incident) -> dict[str, Any]:
    return {
        "id": incident.pk,
        "title": incident.title,
        "service": incident.service,
        "severity": incident.severity,
        "state": incident.state,
        "opened_at": incident.opened_at,
        "updated_at": incident.updated_at,
        "acknowledged_by": incident.acknowledged_by,
        "acknowledged_at": incident.acknowledged_at,
        "resolved_at": incident.resolved_at,
        "resolution": incident.resolution,
        "url": reverse("dashboard:incident", args=[incident.pk]),
    }


def _score(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


@router.get("", response=IncidentPage, url_name="incidents", summary="List incidents")
def list_incidents(request: HttpRequest, filters: Query[IncidentFilters]) -> dict[str, Any]:
    """Newest first; ``limit`` (default 100, at most 500) and ``offset`` page through,
    ``count`` is the total matching."""
    rows = Incident.objects.order_by("-opened_at", "-pk")
    if filters.state:
        rows = rows.filter(state=filters.state)
    if filters.service:
        rows = rows.filter(service=filters.service)
    if filters.since:
        rows = rows.filter(opened_at__gte=filters.since)
    page = rows[filters.offset : filters.offset + filters.limit]
    return {"count": rows.count(), "items": [_summary(i) for i in page]}


@router.get(
    "/{incident_id}", response=IncidentDetailOut, url_name="incident", summary="One incident"
)
def get_incident(request: HttpRequest, incident_id: int) -> dict[str, Any]:
    """With its timeline (oldest first), ranked hypotheses and remediation runs."""
    incident = get_object_or_404(Incident.objects.select_related("diagnosis"), pk=incident_id)
    diagnosis = incident.diagnosis
    runs = (
        RemediationRun.objects.filter(diagnosis=diagnosis)
        .prefetch_related("transitions")
        .order_by("created_at")
    )
    return {
        **_summary(incident),
        "root_cause": diagnosis.root_cause,
        "confidence": diagnosis.confidence,
        "timeline": [
            {
                "at": e.at,
                "kind": e.kind,
                "from_state": e.from_state,
                "to_state": e.to_state,
                "text": e.text,
                "actor": e.actor_label,
                "run": e.run_id,
            }  # fmt: skip
            for e in incident.timeline.all()
        ],
        "hypotheses": [
            {
                "sentence": hypothesis_sentence(h),
                "cause": str(h.get("cause", "")),
                "kind": str(h.get("kind", "")),
                "score": _score(h.get("score")),
                "problem": h.get("problem") if isinstance(h.get("problem"), int) else None,
            }  # fmt: skip
            for h in diagnosis.hypotheses or []
        ],
        "runs": [
            {
                "id": r.pk,
                "action": r.action,
                "status": r.status,
                "risk": r.risk,
                "confidence": r.confidence,
                "reason": run_reason(r),
                "created_at": r.created_at,
                "finished_at": r.finished_at,
            }  # fmt: skip
            for r in runs
        ],
    }
