"""Rules and the remediation settings (autonomy, kill switch): what may act, and when."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

from agents.diagnostic import causes

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
        # The heading and breadcrumb of the settings page: the mode as the form names it.
        said = f"Autonomy: {self.get_autonomy_mode_display()}"
        if self.dry_run:
            said += ", dry run"
        return said + (", KILL SWITCH ON" if self.kill_switch else "")

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.pk = 1  # a singleton: the admin edits the one row
        super().save(*args, **kwargs)

    @classmethod
    def load(cls) -> RemediationSettings:
        row, _ = cls.objects.get_or_create(pk=1)
        return row


#: The generic cause classes a rule can match (every diagnosis names one in its ``signal``).
CAUSE_CLASS_CHOICES = [(c, causes.TITLES[c]) for c in causes.TITLES if c != causes.UNKNOWN]


def short_exception_type(name: str) -> str:
    """``django.db.utils.OperationalError`` -> ``operationalerror``: rules name either form."""
    return name.strip().rsplit(".", 1)[-1].lower()


class Rule(models.Model):
    """Matches a diagnosis to an action. Empty match fields match anything; at least one of
    cause class, exception type, signal, fingerprint, category or pattern must be set
    (checked by ``clean``, which also refuses an action or command that does not exist)."""

    name = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    enabled = models.BooleanField(default=True)
    cause_class = models.CharField(
        max_length=40,
        blank=True,
        choices=CAUSE_CLASS_CHOICES,
        help_text="The generic cause the diagnosis names (any application produces these).",
    )
    exception_type = models.CharField(
        max_length=200,
        blank=True,
        help_text="An exception the diagnosed error raised, e.g. OperationalError or "
        "django.db.utils.OperationalError (the last part is compared, ignoring case).",
    )
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
    dry_run = models.BooleanField(
        default=False,
        help_text="On: this rule's runs go through every step (approval included) but the "
        "action is not executed. A safe first week for a new rule.",
    )
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

    def clean(self) -> None:
        """What an operator typed must be runnable: a criterion, a known action, parameters
        the action accepts (a command must be in ``REMEDIATION_COMMANDS``, a webhook in
        ``REMEDIATION_WEBHOOKS``)."""
        from remediation.actions import ActionError, get_action  # the actions import models

        criteria = (
            self.cause_class, self.exception_type, self.signal, self.problem_fingerprint,
            self.category, self.pattern_name,
        )  # fmt: skip
        errors: dict[str, str] = {}
        if not any(criteria):
            errors["cause_class"] = (
                "Say what the rule matches: a cause class, an exception type or a signal."
            )
        try:
            get_action(self.action)(self.parameters or {}, service=self.service or "any")
        except ActionError as exc:
            field = "action" if str(exc).startswith("unknown action") else "parameters"
            errors[field] = str(exc)
        if errors:
            raise ValidationError(errors)

    def matches(
        self,
        *,
        signal: str,
        fingerprint: str,
        category: str,
        service: str,
        instance: str,
        pattern_signals: dict[str, str] | None = None,
        exception_types: set[str] | None = None,
    ) -> bool:
        """Every set criterion must hold; a rule with no criterion matches nothing."""
        criteria = [
            (self.cause_class, signal),
            (self.signal, signal),
            (self.problem_fingerprint, fingerprint),
            (self.category, category),
        ]
        if not any(want for want, _ in criteria) and not (self.pattern_name or self.exception_type):
            return False
        if any(want and want != have for want, have in criteria):
            return False
        raised = {short_exception_type(t) for t in exception_types or ()}
        if self.exception_type and short_exception_type(self.exception_type) not in raised:
            return False
        if self.pattern_name and (pattern_signals or {}).get(self.pattern_name) != signal:
            return False
        if self.service and self.service != service:
            return False
        return not (self.instances and instance not in self.instances)
