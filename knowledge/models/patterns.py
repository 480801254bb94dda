"""Patterns: learned or curated regularities, with their append-only versions."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from knowledge.models.choices import NodeKind
from knowledge.models.problems import NodeMixin, Problem
from knowledge.models.solutions import Solution


class PatternKind(models.TextChoices):
    RECURRING = "recurring", "Recurring problem"
    CO_OCCURRENCE = "co-occurrence", "Co-occurrence"
    TEMPORAL = "temporal", "Temporal / peak"
    SOLUTION_TEMPLATE = "solution-template", "Solution template"


# Fields a pattern version records and a rollback restores (the name is the identity).
PATTERN_CONTENT_FIELDS = ("kind", "description", "matcher", "confidence", "validated", "retired")


class Pattern(NodeMixin, models.Model):
    """Something learned across problems: a recurring failure, two problems that come
    together, a peak hour, a solution that generalises. Versioned: every curated change is
    a :class:`PatternVersion`, and a rollback is a new version, never a rewrite."""

    node_kind = NodeKind.PATTERN

    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=20, choices=PatternKind.choices)
    description = models.TextField(blank=True)
    matcher = models.JSONField(
        default=dict, blank=True, help_text="How to recognise it, e.g. {'signal': '...'}."
    )
    problems = models.ManyToManyField(Problem, blank=True, related_name="patterns")
    solutions = models.ManyToManyField(Solution, blank=True, related_name="patterns")
    confidence = models.FloatField(default=0.5)
    validated = models.BooleanField(default=False)
    retired = models.BooleanField(default=False)
    matches_confirmed = models.PositiveIntegerField(default=0)
    matches_refuted = models.PositiveIntegerField(default=0)
    version = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def accuracy(self) -> float | None:
        """Share of matches later confirmed; None until a match was judged."""
        judged = self.matches_confirmed + self.matches_refuted
        return self.matches_confirmed / judged if judged else None

    def snapshot(self) -> dict[str, Any]:
        """The pattern's content by natural keys, so a version survives export/import."""
        data: dict[str, Any] = {name: getattr(self, name) for name in PATTERN_CONTENT_FIELDS}
        data["problems"] = sorted(self.problems.values_list("fingerprint", flat=True))
        data["solutions"] = sorted(
            [fp, title] for fp, title in self.solutions.values_list("problem__fingerprint", "title")
        )
        return data

    def apply_snapshot(self, snapshot: dict[str, Any]) -> None:
        """Set the content back to a snapshot (links to nodes since deleted are dropped)."""
        for name in PATTERN_CONTENT_FIELDS:
            if name in snapshot:
                setattr(self, name, snapshot[name])
        self.save()
        self.problems.set(Problem.objects.filter(fingerprint__in=snapshot.get("problems", [])))
        wanted = {tuple(pair) for pair in snapshot.get("solutions", [])}
        candidates = Solution.objects.filter(title__in={title for _, title in wanted})
        self.solutions.set([s for s in candidates.select_related("problem") if s.key in wanted])


class PatternVersion(models.Model):
    """One saved state of a pattern; append-only."""

    pattern = models.ForeignKey(Pattern, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    snapshot = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["pattern", "version"], name="knowledge_patternversion_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.pattern} v{self.version}"
