"""Ground truth: every fault the simulator injected, when, why, and what would fix it."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from core.humane import exact


class FaultInjection(models.Model):
    """One injected fault (or healthy period) and its ground truth, for the scorecard and
    for anyone checking what the agents concluded against what really happened."""

    scenario = models.CharField(max_length=100, db_index=True)
    title = models.CharField(max_length=200)
    root_cause = models.CharField(
        max_length=100, blank=True, help_text="The true signal; empty for a healthy period."
    )
    service = models.CharField(max_length=100)
    correct_remediation = models.CharField(max_length=100, blank=True)
    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    recovered_at = models.DateTimeField(
        null=True, blank=True, help_text="When the simulator saw the root cause gone."
    )
    ended_at = models.DateTimeField(null=True, blank=True)
    fixed_by = models.CharField(
        max_length=20,
        blank=True,
        choices=[("control-api", "control API"), ("human", "human"), ("", "not fixed")],
    )
    run_label = models.CharField(
        max_length=100, blank=True, help_text="The scorecard run or 'demo' that injected it."
    )

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.scenario} at {exact(self.started_at)}"
