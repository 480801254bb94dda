"""Turns the knowledge graph's signals into system events on the mesh.

Knowledge is a leaf and knows nothing of the mesh; this module, connected when the agents
app is ready, is the one place its announcements become ``problem.*`` and ``incident.*``
events (built by the one constructor, published after the changing transaction commits).
"""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from agents import mesh
from agents.events import system_event
from agents.system_events import IncidentChanged, ProblemChanged
from knowledge.models import Incident, Problem
from knowledge.signals import incident_changed, problem_changed

PROBLEM_EVENT_SOURCE = "knowledge"


@receiver(problem_changed, sender=Problem, dispatch_uid="agents.announce_problem")
def announce_problem(
    sender: type[Problem], problem: Problem, created: bool, details: dict[str, Any], **_: Any
) -> None:
    payload = ProblemChanged(
        problem_id=problem.pk,
        fingerprint=problem.fingerprint,
        title=problem.title,
        category=problem.category,
        severity=problem.severity,
        status=problem.status,
        signal=problem.signal,
        occurrence_count=problem.occurrence_count,
        **details,
    )
    event_type = "problem.created" if created else "problem.updated"
    mesh.publish_on_commit(system_event(event_type, payload, source=PROBLEM_EVENT_SOURCE))


@receiver(incident_changed, sender=Incident, dispatch_uid="agents.announce_incident")
def announce_incident(
    sender: type[Incident], incident: Incident, change: str, details: dict[str, Any], **_: Any
) -> None:
    payload = IncidentChanged(
        incident=incident.pk,
        diagnosis=incident.diagnosis_id,
        service=incident.service,
        title=incident.title,
        severity=incident.severity,
        state=incident.state,
        actor=str(details.get("actor", "")),
        reason=str(details.get("reason", ""))[:500],
    )
    severity = "warning" if change in ("opened", "reopened") else "info"
    mesh.publish_on_commit(
        system_event(f"incident.{change}", payload, source=PROBLEM_EVENT_SOURCE, severity=severity)
    )
