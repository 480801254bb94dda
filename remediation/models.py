"""Models of the remediation app: rules, runs and their state machine, approvals, audit log.

Row behaviour lives here (a rule matching a diagnosis, a run moving between states with a
conditional UPDATE); work that spans rows, talks to the network or emits events lives in
``remediation/engine.py``.
"""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

#: The one permission that lets a user approve or reject a remediation run.
APPROVE_CODENAME = "approve_run"
APPROVE_PERMISSION = f"remediation.{APPROVE_CODENAME}"


class RiskLevel(models.TextChoices):
    LOW = "low", "low"
    MEDIUM = "medium", "medium"
    HIGH = "high", "high"
    CRITICAL = "critical", "critical"


RISK_RANK = {RiskLevel.LOW: 0, RiskLevel.MEDIUM: 1, RiskLevel.HIGH: 2, RiskLevel.CRITICAL: 3}


class AutonomyMode(models.TextChoices):
    OFF = "off", "off: propose nothing"
    SUGGEST = "suggest", "suggest only: every run needs approval"
    AUTO_LOW = "auto_low", "automatic for low risk"
    AUTO_UP_TO_MEDIUM = "auto_up_to_medium", "automatic up to medium risk"
    AUTO_UP_TO_HIGH = "auto_up_to_high", "automatic up to high risk"


# The highest risk each mode runs without a human (None: nothing runs on its own).
AUTONOMY_CEILING: dict[str, int | None] = {
    AutonomyMode.OFF: None,
    AutonomyMode.SUGGEST: None,
    AutonomyMode.AUTO_LOW: 0,
    AutonomyMode.AUTO_UP_TO_MEDIUM: 1,
    AutonomyMode.AUTO_UP_TO_HIGH: 2,
}


class RemediationSettings(models.Model):
    """The one row of global switches, edited in the admin and read through a short cache."""

    autonomy_mode = models.CharField(
        max_length=20,
        choices=AutonomyMode.choices,
        # Medium-risk actions are reversible (scale, feature flags: verified, rolled back on
        # failure); what must wait for a human says so in its rule (requires_approval).
        default=AutonomyMode.AUTO_UP_TO_MEDIUM,
    )
    kill_switch = models.BooleanField(
        default=False, help_text="On: nothing executes, not even approved runs."
    )
    dry_run = models.BooleanField(
        default=False, help_text="On: runs go through every step but actions are not executed."
    )
    service_max_runs = models.PositiveIntegerField(
        default=10, help_text="Runs per service per service window, all rules together."
    )
    service_window_seconds = models.PositiveIntegerField(default=3600)
    max_restarts_per_service = models.PositiveIntegerField(default=2)
    restart_window_seconds = models.PositiveIntegerField(default=3600)
    circuit_failure_threshold = models.PositiveIntegerField(
        default=3, help_text="Consecutive failures of a rule that open its circuit."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "remediation settings"
        verbose_name_plural = "remediation settings"

    def __str__(self) -> str:
        return f"autonomy {self.autonomy_mode}{', KILL SWITCH ON' if self.kill_switch else ''}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.pk = 1  # a singleton: the admin edits the one row
        super().save(*args, **kwargs)

    @classmethod
    def load(cls) -> RemediationSettings:
        row, _ = cls.objects.get_or_create(pk=1)
        return row


class Rule(models.Model):
    """Matches a diagnosis to an action. Empty match fields match anything; at least one of
    signal, fingerprint, category or pattern must be set (checked by ``clean``)."""

    name = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    enabled = models.BooleanField(default=True)
    signal = models.CharField(max_length=100, blank=True, db_index=True)
    problem_fingerprint = models.CharField(max_length=100, blank=True)
    category = models.CharField(max_length=20, blank=True)
    pattern_name = models.CharField(
        max_length=200, blank=True, help_text="A knowledge pattern whose matcher names the signal."
    )
    action = models.CharField(max_length=100)
    parameters = models.JSONField(default=dict, blank=True)
    confidence_threshold = models.FloatField(default=0.8, help_text="The configured threshold.")
    effective_threshold = models.FloatField(
        default=0.8, help_text="The threshold in force, moved by outcomes within the bounds."
    )
    threshold_min = models.FloatField(default=0.5)
    threshold_max = models.FloatField(default=0.99)
    threshold_step = models.FloatField(default=0.02)
    risk = models.CharField(max_length=10, choices=RiskLevel.choices, default=RiskLevel.MEDIUM)
    requires_approval = models.BooleanField(default=True)
    max_runs = models.PositiveIntegerField(default=3, help_text="Runs allowed per window.")
    window_seconds = models.PositiveIntegerField(default=3600)
    cooldown_seconds = models.PositiveIntegerField(default=300)
    verify_after_seconds = models.PositiveIntegerField(
        default=120, help_text="How long the triggering signal is watched before verifying."
    )
    service = models.CharField(max_length=100, blank=True, help_text="Empty: any service.")
    instances = models.JSONField(default=list, blank=True, help_text="Empty: any instance.")
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    circuit_open = models.BooleanField(default=False)
    circuit_opened_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self._state.adding:
            self.effective_threshold = self.confidence_threshold
        super().save(*args, **kwargs)

    def matches(
        self,
        *,
        signal: str,
        fingerprint: str,
        category: str,
        service: str,
        instance: str,
        pattern_signals: dict[str, str] | None = None,
    ) -> bool:
        """Every set criterion must hold; a rule with no criterion matches nothing."""
        criteria = [
            (self.signal, signal),
            (self.problem_fingerprint, fingerprint),
            (self.category, category),
        ]
        if not any(want for want, _ in criteria) and not self.pattern_name:
            return False
        if any(want and want != have for want, have in criteria):
            return False
        if self.pattern_name and (pattern_signals or {}).get(self.pattern_name) != signal:
            return False
        if self.service and self.service != service:
            return False
        return not (self.instances and instance not in self.instances)


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


S = RunStatus
# The whole state machine. Anything not listed is refused by ``RemediationRun.transition``.
TRANSITIONS: dict[str, frozenset[str]] = {
    S.PROPOSED: frozenset({S.AWAITING_APPROVAL, S.APPROVED, S.REJECTED}),
    S.AWAITING_APPROVAL: frozenset({S.APPROVED, S.REJECTED, S.EXPIRED}),
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
        return f"run {self.pk}: {self.action} on {self.service or '?'} ({self.status})"

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
        return f"{self.from_status} -> {self.to_status} by {self.actor_label}"


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
        return f"{self.user} {self.decision}d run {self.run_id}"


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
        return f"run {self.run_id} attempt {self.number}: {self.outcome}"


class AuditEntry(models.Model):
    """One decision, append-only (a database trigger refuses UPDATE and DELETE) and
    hash-chained: ``hash = sha256(prev_hash + canonical JSON of the content)``.

    Run and rule are plain ids, not foreign keys: the record outlives what it describes.
    """

    at = models.DateTimeField()
    kind = models.CharField(max_length=50, db_index=True)
    run_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    rule_id = models.BigIntegerField(null=True, blank=True)
    actor = models.CharField(max_length=150, default="system")
    data = models.JSONField(default=dict)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind} by {self.actor}"

    def content(self) -> dict[str, Any]:
        """What the hash covers (everything but the hashes themselves and the id)."""
        return {
            "at": self.at.astimezone(UTC).isoformat(),
            "kind": self.kind,
            "run": self.run_id,
            "rule": self.rule_id,
            "actor": self.actor,
            "data": self.data,
        }
