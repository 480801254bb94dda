"""Runs and their state machine, transitions, approvals and attempts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from remediation.models.rules import APPROVE_CODENAME, RiskLevel, Rule


class RunStatus(models.TextChoices):
    PROPOSED = "proposed"
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    RUNNING = "running"
    VERIFYING = "verifying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    ESCALATED = "escalated"
    # Never decided, and no longer needed: its incident resolved, or a newer identical
    # proposal took its place (a prompt says which).
    SUPERSEDED = "superseded"


S = RunStatus
# The whole state machine. Anything not listed is refused by ``RemediationRun.transition``.
TRANSITIONS: dict[str, frozenset[str]] = {
    S.PROPOSED: frozenset({S.AWAITING_APPROVAL, S.APPROVED, S.REJECTED}),
    S.AWAITING_APPROVAL: frozenset({S.APPROVED, S.REJECTED, S.EXPIRED, S.SUPERSEDED}),
    # approved -> escalated: the kill switch or a safety limit stopped it before it ran.
    S.APPROVED: frozenset({S.RUNNING, S.ESCALATED}),
    S.RUNNING: frozenset({S.VERIFYING, S.FAILED}),
    S.VERIFYING: frozenset({S.SUCCEEDED, S.FAILED}),
    S.FAILED: frozenset({S.ROLLED_BACK, S.ESCALATED}),
    S.ROLLED_BACK: frozenset({S.ESCALATED}),
    S.REJECTED: frozenset(),
    S.EXPIRED: frozenset(),
    S.SUCCEEDED: frozenset(),
    S.ESCALATED: frozenset(),
    S.SUPERSEDED: frozenset(),
}
TERMINAL = frozenset(s for s, targets in TRANSITIONS.items() if not targets)


class IllegalTransition(Exception):
    """A transition the state machine does not have (a programming or operator error)."""


class RemediationRun(models.Model):
    """One attempt to fix one diagnosis with one rule; the unit of work and of audit."""

    rule = models.ForeignKey(Rule, on_delete=models.PROTECT, related_name="runs")
    diagnosis = models.ForeignKey(
        "knowledge.Diagnosis", on_delete=models.PROTECT, related_name="remediation_runs"
    )
    solution = models.ForeignKey(
        "knowledge.Solution", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    service = models.CharField(max_length=100, blank=True)
    instance = models.CharField(max_length=200, blank=True)
    signal = models.CharField(max_length=100, blank=True)
    action = models.CharField(max_length=100)
    parameters = models.JSONField(default=dict, blank=True)
    risk = models.CharField(max_length=10, choices=RiskLevel.choices)
    confidence = models.FloatField()
    threshold = models.FloatField(help_text="The rule's effective threshold when proposed.")
    status = models.CharField(
        max_length=20, choices=RunStatus.choices, default=RunStatus.PROPOSED, db_index=True
    )
    approvals_required = models.PositiveSmallIntegerField(default=1)
    preview = models.TextField(blank=True, help_text="The action's dry-run text.")
    blast_radius = models.JSONField(default=dict, blank=True)
    evidence = models.JSONField(default=dict, blank=True)
    dry_run = models.BooleanField(default=False)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    executed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        permissions = [(APPROVE_CODENAME, "Can approve or reject remediation runs")]
        constraints = [
            models.UniqueConstraint(fields=["diagnosis", "rule"], name="remediation_run_once")
        ]

    def __str__(self) -> str:
        from remediation.actions import action_title  # the actions import these models

        where, status = self.service or "any service", self.get_status_display().lower()
        return f"Run {self.pk}: {action_title(self.action)} on {where} ({status})"

    def can_transition(self, to: str) -> bool:
        return to in TRANSITIONS[self.status]

    def transition(
        self,
        to: str,
        *,
        actor: Any = None,
        reason: str = "",
        **fields: Any,
    ) -> bool:
        """Move to ``to`` if the row is still in the state this object saw.

        A conditional UPDATE: True when exactly one row changed (this caller won), False
        when another worker or approver moved it first. Illegal moves raise, whatever the
        row holds. Call inside a transaction so the RunTransition row commits with it.
        """
        if not self.can_transition(to):
            raise IllegalTransition(f"run {self.pk}: {self.status} -> {to} is not allowed")
        now = timezone.now()
        if to in TERMINAL:
            fields.setdefault("finished_at", now)
        changed = RemediationRun.objects.filter(pk=self.pk, status=self.status).update(
            status=to, updated_at=now, **fields
        )
        if changed != 1:
            return False
        user = actor if getattr(actor, "pk", None) else None
        RunTransition.objects.create(
            run=self,
            from_status=self.status,
            to_status=to,
            at=now,
            actor=user,
            actor_label=str(actor) if actor is not None else "system",
            reason=reason[:500],
        )
        self.status, self.updated_at = to, now
        for name, value in fields.items():
            setattr(self, name, value)
        return True

    def is_expired(self, now: Any = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())

    @staticmethod
    def approval_ttl() -> timedelta:
        return timedelta(seconds=getattr(settings, "REMEDIATION_APPROVAL_TTL_SECONDS", 3600))


class RunTransition(models.Model):
    """Every state change of a run: when, from, to, by whom, why."""

    run = models.ForeignKey(RemediationRun, on_delete=models.CASCADE, related_name="transitions")
    from_status = models.CharField(max_length=20, choices=RunStatus.choices)
    to_status = models.CharField(max_length=20, choices=RunStatus.choices)
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    actor_label = models.CharField(max_length=150, default="system")
    reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        moved = f"{self.get_from_status_display()} → {self.get_to_status_display()}"
        return f"{moved} by {self.actor_label}"


class Decision(models.TextChoices):
    APPROVE = "approve"
    REJECT = "reject"


class Approval(models.Model):
    """One person's decision on a run (one per person: the unique constraint makes a double
    click count once, and two approvers mean two different people)."""

    run = models.ForeignKey(RemediationRun, on_delete=models.CASCADE, related_name="approvals")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    decision = models.CharField(max_length=10, choices=Decision.choices)
    reason = models.CharField(max_length=500, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at"]
        constraints = [
            models.UniqueConstraint(fields=["run", "user"], name="remediation_approval_once")
        ]

    def __str__(self) -> str:
        verb = "approved" if self.decision == Decision.APPROVE else "rejected"
        return f"{self.user} {verb} run {self.run_id}"


class AttemptOutcome(models.TextChoices):
    STARTED = "started"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ABANDONED = "abandoned", "abandoned (worker died)"


class RunAttempt(models.Model):
    """Written and committed *before* an action executes, so a crashed worker leaves proof
    that execution may have happened and the next delivery never repeats it blindly."""

    run = models.ForeignKey(RemediationRun, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveSmallIntegerField()
    worker = models.CharField(max_length=200, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(
        max_length=10, choices=AttemptOutcome.choices, default=AttemptOutcome.STARTED
    )
    detail = models.TextField(blank=True)

    class Meta:
        ordering = ["run", "number"]
        constraints = [
            models.UniqueConstraint(fields=["run", "number"], name="remediation_attempt_number")
        ]

    def __str__(self) -> str:
        return f"Run {self.run_id}, attempt {self.number}: {self.get_outcome_display()}"
