"""Contexts of the detail pages (problem, agent, event tail, services)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q, Sum
from django.db.models.functions import TruncHour, TruncMinute
from django.utils import timezone
from pydantic import ValidationError

from agents.events import Event, stream_name
from agents.mesh import EVENT_FIELD, known_streams
from agents.models import Agent, Service
from agents.system_events import AgentHeartbeat
from core.redis import get_redis
from dashboard import charts
from knowledge.models import Diagnosis, Incident, Occurrence, Problem
from knowledge.similarity import similar_problems

logger = logging.getLogger(__name__)

OCCURRENCE_WINDOW = timedelta(hours=24)
TAIL_LIMIT = 100
TAIL_SCAN_PER_STREAM = 200
AGENT_BEATS_SCANNED = 2000


def occurrence_chart(problem: Problem, *, now: Any = None) -> charts.Chart:
    """Sightings per bucket over the last day: per minute for a fresh problem, else per hour."""
    now = now or timezone.now()
    since = now - OCCURRENCE_WINDOW
    trunc = TruncMinute if problem.first_seen > now - timedelta(hours=2) else TruncHour
    rows = (
        Occurrence.objects.filter(problem=problem, at__gte=since)
        .annotate(bucket=trunc("at"))
        .values("bucket")
        .annotate(total=Sum("count"))
        .order_by("bucket")
    )
    points = [(row["bucket"], float(row["total"])) for row in rows]
    # The bucket is part of the unit: "12" means nothing until it says per minute or per hour.
    bucket = "minute" if trunc is TruncMinute else "hour"
    return charts.time_series({"occurrences": points}, title=f"occurrences per {bucket}")


def diagnoses_naming(problem: Problem, limit: int = 10) -> list[Diagnosis]:
    """Diagnoses of this problem and those that ranked it among their hypotheses: a catalogue
    problem is usually the second kind (the error fingerprints into a problem of its own), and
    an operator who follows "its history" from an incident must find that incident here."""
    named = Q(problem=problem) | Q(hypotheses__contains=[{"problem": problem.pk}])
    return list(
        Diagnosis.objects.filter(named).select_related("incident").order_by("-created_at")[:limit]
    )


def problem_detail(problem: Problem) -> dict[str, Any]:
    similar: list[tuple[Problem, float]] = []
    if problem.embedding is not None:
        similar = similar_problems(problem.embedding, k=5, exclude_id=problem.pk)
    return {
        "problem": problem,
        "occurrence_chart": occurrence_chart(problem),
        "diagnoses": diagnoses_naming(problem),
        "similar": similar,
        "solutions": list(problem.solutions.order_by("-success_lower_bound")),
        "recent_occurrences": list(problem.occurrences.all()[:20]),
    }


def _read_events(stream: str, count: int) -> list[Event]:
    events = []
    for _entry_id, fields in get_redis().xrevrange(stream, count=count):
        try:
            events.append(Event.from_json(fields[EVENT_FIELD.encode()]))
        except (KeyError, ValueError):
            logger.warning("unreadable stream entry", extra={"stream": stream})
    return events


def _heartbeat(event: Event) -> AgentHeartbeat | None:
    try:
        return AgentHeartbeat.model_validate(event.payload)
    except ValidationError:  # written by an older version: not worth a broken page
        return None


def agent_detail(agent: Agent) -> dict[str, Any]:
    """Throughput and activity from the agent's own heartbeats (newest last)."""
    beats = [
        (e, beat)
        for e in _read_events(stream_name("agent.heartbeat"), AGENT_BEATS_SCANNED)
        if (beat := _heartbeat(e)) is not None and beat.agent == agent.name
    ][:200]
    beats.reverse()
    throughput = [(e.timestamp, float(beat.processed)) for e, beat in beats]
    errors = [(e.timestamp, float(beat.errors)) for e, beat in beats]
    return {
        "agent": agent,
        "heartbeat_seconds": settings.AGENT_HEARTBEAT_SECONDS,
        "heartbeat_age": agent.heartbeat_age(),
        "throughput_chart": charts.time_series(
            {"processed": throughput, "errors": errors}, title="per heartbeat"
        ),
        "recent_beats": [e for e, _ in reversed(beats)][:30],
    }


def event_tail(*, event_type: str = "", service: str = "") -> dict[str, Any]:
    """The newest events, from one stream or all of them, filtered by service (source)."""
    streams = known_streams()
    types = [s.removeprefix("events:") for s in streams]
    chosen = [stream_name(event_type)] if event_type in types else streams
    events: list[Event] = []
    for stream in chosen:
        events.extend(_read_events(stream, TAIL_SCAN_PER_STREAM))
    if service:
        events = [e for e in events if e.source == service]
    events.sort(key=lambda e: e.id, reverse=True)  # ULIDs sort by time
    return {
        "events": events[:TAIL_LIMIT],
        "types": types,
        "selected_type": event_type if event_type in types else "",
        "selected_service": service,
    }


def service_names() -> list[str]:
    return sorted(Service.objects.values_list("name", flat=True))


def services_detail() -> dict[str, Any]:
    """Each service's instances and its open incidents: every instance "up" beside three open
    incidents is not a healthy service, and the page must not read as one."""
    now = timezone.now()
    services = list(Service.objects.prefetch_related("instances"))
    incidents: dict[str, list[Incident]] = {}
    for incident in (
        Incident.objects.open()
        .order_by("-opened_at")
        .only("id", "title", "service", "severity", "opened_at", "state")
    ):
        incidents.setdefault(incident.service, []).append(incident)
    return {
        "services": [
            (s, [(i, i.get_status(now)) for i in s.instances.all()], incidents.get(s.name, []))
            for s in services
        ],
    }


def run_detail(run: Any) -> dict[str, Any]:
    """A remediation run's page: its timeline, preview, outcome, decisions and audit trail."""
    from dashboard.incidents import rollback_plan, run_summary
    from remediation.models import AuditEntry

    return {
        "run": run,
        "summary": run_summary(run),
        "undo": rollback_plan(run),
        "transitions": list(run.transitions.all()),
        "attempts": list(run.attempts.all()),
        "decisions": list(run.approvals.select_related("user")),
        "audit": list(AuditEntry.objects.filter(run_id=run.pk).order_by("id")),
    }
