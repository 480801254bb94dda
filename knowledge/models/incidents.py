"""Incidents: one cause on one service, the unit an operator works on.

An incident wraps the diagnosis that named its cause (one to one: the diagnostic agent
keeps one live diagnosis per cause and service, and the database one open incident per
``cause`` and service) and groups what belongs to it: the
problems and anomalies that were its evidence, the remediation runs proposed for it and
their approvals (those point at the diagnosis, so ``incident.diagnosis.remediation_runs``).

It lives in knowledge beside ``Diagnosis`` because the diagnostic agent opens it in the same
transaction as the diagnosis, and knowledge may be imported by every app that moves it.
Runs are referenced by id only in timeline rows (knowledge never imports remediation).

The state machine is owned here: ``Incident.transition`` is the one writer of ``state``
(a conditional UPDATE, "exactly one row changed"), records a timeline row per move and keeps
the diagnosis' status in step (the diagnostic agent and the engine read that status).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from core.humane import exact
from knowledge.models.choices import Severity
from knowledge.models.diagnoses import Diagnosis, DiagnosisStatus


class IncidentState(models.TextChoices):
    TRIGGERED = "triggered", "Triggered"
    DIAGNOSED = "diagnosed", "Diagnosed"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    REMEDIATING = "remediating", "Remediating"
    RESOLVED = "resolved", "Resolved"
    REOPENED = "reopened", "Reopened"


St = IncidentState
# The whole state machine; anything not listed is refused by ``Incident.transition``.
# ``reopened`` means "nothing fixed it yet, a human should look" (a fix failed, was rejected
# or expired, or the incident came back after it was resolved).
INCIDENT_TRANSITIONS: dict[str, frozenset[str]] = {
    St.TRIGGERED: frozenset({St.DIAGNOSED, St.ACKNOWLEDGED, St.REMEDIATING, St.RESOLVED}),
    St.DIAGNOSED: frozenset({St.ACKNOWLEDGED, St.REMEDIATING, St.RESOLVED}),
    St.ACKNOWLEDGED: frozenset({St.REMEDIATING, St.RESOLVED, St.REOPENED}),
    St.REMEDIATING: frozenset({St.RESOLVED, St.REOPENED}),
    St.REOPENED: frozenset({St.ACKNOWLEDGED, St.REMEDIATING, St.RESOLVED}),
    St.RESOLVED: frozenset({St.REOPENED}),
}
OPEN_STATES = frozenset(s for s in St.values if s != St.RESOLVED)

# What the diagnosis' status becomes with each move (moves not listed leave it alone).
_DIAGNOSIS_STATUS = {
    St.REMEDIATING: DiagnosisStatus.REMEDIATING,
    St.RESOLVED: DiagnosisStatus.RESOLVED,
    St.REOPENED: DiagnosisStatus.OPEN,
}


class IllegalIncidentTransition(Exception):
    """A move the incident state machine does not have."""


class IncidentQuerySet(models.QuerySet):
    def open(self) -> IncidentQuerySet:
        return self.exclude(state=St.RESOLVED)


def cause_key(signal: str, problem_id: int) -> str:
    """What "the same cause" means (a dedup key, like PagerDuty's): the catalogue signal
    when the diagnosis names one (two wordings of one failure are one cause), else its
    problem."""
    return f"signal:{signal}" if signal else f"problem:{problem_id}"


class Incident(models.Model):
    diagnosis = models.OneToOneField(Diagnosis, on_delete=models.CASCADE, related_name="incident")
    service = models.CharField(max_length=100, blank=True, db_index=True)
    # One open incident per cause and service, kept by the database (``one_open_per_cause``)
    # so two workers diagnosing at once cannot both open one. Blank: not deduplicated
    # (incidents from before the key existed that were already duplicates).
    cause = models.CharField(max_length=120, blank=True, help_text="signal:… or problem:…")
    title = models.CharField(max_length=300, help_text="Plain language, no template tokens.")
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.ERROR)
    state = models.CharField(
        max_length=20, choices=IncidentState.choices, default=St.TRIGGERED, db_index=True
    )
    opened_at = models.DateTimeField(default=timezone.now, db_index=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.CharField(max_length=150, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.CharField(max_length=500, blank=True, help_text="How it was resolved.")
    updated_at = models.DateTimeField(default=timezone.now)

    objects = IncidentQuerySet.as_manager()

    class Meta:
        ordering = ["-opened_at"]
        indexes = [
            models.Index(fields=["state", "-opened_at"], name="knowledge_incident_open"),
            models.Index(
                fields=["service", "cause", "-resolved_at"], name="knowledge_incident_cause"
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["service", "cause"],
                condition=~models.Q(state="resolved") & ~models.Q(cause=""),
                name="one_open_per_cause",
            )
        ]

    def __str__(self) -> str:
        return f"incident {self.pk}: {self.title} on {self.service or '?'} ({self.state})"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    def can_transition(self, to: str) -> bool:
        return to in INCIDENT_TRANSITIONS[self.state]

    def transition(self, to: str, *, actor: Any = None, reason: str = "", **fields: Any) -> bool:
        """Move to ``to`` if the row is still in the state this object saw.

        True when exactly one row changed (this caller won); False when someone else moved
        it first. Illegal moves raise. Call inside a transaction so the timeline row and the
        diagnosis' status commit with the move.
        """
        if not self.can_transition(to):
            raise IllegalIncidentTransition(f"incident {self.pk}: {self.state} -> {to}")
        now = timezone.now()
        if to == St.RESOLVED:
            fields.setdefault("resolved_at", now)
        elif to == St.REOPENED:
            fields.setdefault("resolved_at", None)
        changed = Incident.objects.filter(pk=self.pk, state=self.state).update(
            state=to, updated_at=now, **fields
        )
        if changed != 1:
            return False
        IncidentEvent.objects.create(
            incident=self, at=now, kind=EventKind.STATE, from_state=self.state, to_state=to,
            actor=actor if getattr(actor, "pk", None) else None,
            actor_label=_label(actor), text=reason[:500],
        )  # fmt: skip
        if to in _DIAGNOSIS_STATUS:
            Diagnosis.objects.filter(pk=self.diagnosis_id).update(status=_DIAGNOSIS_STATUS[to])
        self.state, self.updated_at = to, now
        for name, value in fields.items():
            setattr(self, name, value)
        return True

    def retitle(self, old: str, new: str) -> bool:
        """Take title ``new`` if the row is open and still titled ``old``; True when exactly
        one row changed. A resolved incident keeps the words it was resolved under, and a
        title that moved meanwhile (another retitle, anyone's edit) is not overwritten."""
        changed = (
            Incident.objects.open()
            .filter(pk=self.pk, title=old)
            .update(title=new, updated_at=timezone.now())
        )
        if changed != 1:
            return False
        self.title = new
        return True

    def note(
        self, kind: str, text: str, *, actor: Any = None, run_id: int | None = None, at: Any = None
    ) -> IncidentEvent:
        """A timeline row that is not a state move (evidence, a run's step, a human note)."""
        return IncidentEvent.objects.create(
            incident=self, at=at or timezone.now(), kind=kind, text=text[:500], run_id=run_id,
            actor=actor if getattr(actor, "pk", None) else None, actor_label=_label(actor),
        )  # fmt: skip


def _label(actor: Any) -> str:
    if actor is None:
        return "system"
    return (getattr(actor, "get_username", None) or (lambda: str(actor)))()[:150]


class EventKind(models.TextChoices):
    DETECTED = "detected", "Detected"
    EVIDENCE = "evidence", "Evidence"
    STATE = "state", "State"
    REMEDIATION = "remediation", "Remediation"
    NOTE = "note", "Note"


class IncidentEvent(models.Model):
    """The incident's timeline: every move and every step an operator wants to read."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="timeline")
    at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=20, choices=EventKind.choices)
    from_state = models.CharField(max_length=20, choices=IncidentState.choices, blank=True)
    to_state = models.CharField(max_length=20, choices=IncidentState.choices, blank=True)
    text = models.CharField(max_length=500, blank=True)
    run_id = models.PositiveIntegerField(null=True, blank=True, help_text="A remediation run.")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    actor_label = models.CharField(max_length=150, default="system")

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{exact(self.at)} · {self.get_kind_display()}: {self.text}"
