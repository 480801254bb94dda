"""Solutions: how a problem is fixed, and their verified track record."""

from __future__ import annotations

from typing import Any

from django.db import models

from knowledge.models.choices import NodeKind
from knowledge.models.problems import NodeMixin, Problem
from knowledge.stats import success_interval


class SolutionSource(models.TextChoices):
    MANUAL = "manual", "Manual"
    LEARNED = "learned", "Learned"
    SEEDED = "seeded", "Seeded"


class Solution(NodeMixin, models.Model):
    """A way to fix a problem, with a memory of whether it worked.

    ``problem`` is the problem it was written for (its natural key is that problem's
    fingerprint and the title); ``solved_by`` edges say which problems it also fixes.
    ``success_lower_bound`` is stored so ranking is an ORDER BY, and kept in step by ``save``.
    """

    node_kind = NodeKind.SOLUTION

    problem = models.ForeignKey(
        Problem, null=True, blank=True, on_delete=models.CASCADE, related_name="solutions"
    )
    title = models.CharField(max_length=300)
    steps = models.TextField(blank=True, help_text="Markdown.")
    action = models.CharField(
        max_length=100, blank=True, help_text="Remediation action name, e.g. 'restart_service'."
    )
    parameters = models.JSONField(default=dict, blank=True)
    source = models.CharField(
        max_length=10, choices=SolutionSource.choices, default=SolutionSource.MANUAL
    )
    successes = models.PositiveIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0)
    success_lower_bound = models.FloatField(default=0.0, editable=False, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-success_lower_bound", "title"]
        constraints = [
            models.UniqueConstraint(
                fields=["problem", "title"],
                name="knowledge_solution_problem_title",
                nulls_distinct=False,
            )
        ]

    def __str__(self) -> str:
        return self.title

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.success_lower_bound = self.credible_interval[0]
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "success_lower_bound"}
        super().save(*args, **kwargs)

    @property
    def key(self) -> tuple[str | None, str]:
        """The natural key: the owning problem's fingerprint and the title."""
        return (self.problem.fingerprint if self.problem_id else None, self.title)

    @property
    def trials(self) -> int:
        return self.successes + self.failures

    @property
    def success_mean(self) -> float:
        """Posterior mean under a uniform Beta(1, 1) prior: (s + 1) / (n + 2)."""
        return (self.successes + 1) / (self.trials + 2)

    @property
    def credible_interval(self) -> tuple[float, float]:
        """90% credible interval; its lower bound ranks solutions, so 1/1 (0.22) sits well
        below 95/100 (0.90): one lucky run is not evidence."""
        return success_interval(self.successes, self.failures)

    @property
    def success_label(self) -> str:
        """E.g. ``94% (90–98%, 95/100)``; ``untried`` before the first outcome."""
        if not self.trials:
            return "untried"
        lo, hi = self.credible_interval
        return (
            f"{self.success_mean:.0%} ({lo * 100:.0f}–{hi * 100:.0f}%, "
            f"{self.successes}/{self.trials})"
        )
