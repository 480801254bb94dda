"""The knowledge graph: problems, occurrences, solutions, patterns and the edges between them.

Row behaviour lives here (a solution's success statistics, a pattern's snapshot and accuracy,
an edge's reinforcement arithmetic). Changes that span rows and must emit events go through
``knowledge/services.py``; admin actions, commands and agents call those, never ``save()``
around them.

Nodes are problems, solutions and patterns; an :class:`Edge` names its two ends by
``(kind, id)`` so any kind can point at any kind with one table and one recursive query.
Deleting a node deletes its edges (``_drop_edges_of_deleted_node``), since there is no
foreign key to cascade.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils import timezone
from pgvector.django import HnswIndex, VectorField

from knowledge.embeddings import EMBEDDING_DIMENSIONS

# A node of the graph: (kind, primary key).
Node = tuple[str, int]

OCCURRENCE_EVENT_IDS_CAP = 20
CREDIBLE_MASS = 0.90


class Category(models.TextChoices):
    IMPORT = "import", "Import"
    DATA_INTEGRITY = "data-integrity", "Data integrity"
    PERFORMANCE = "performance", "Performance"
    AVAILABILITY = "availability", "Availability"
    CAPACITY = "capacity", "Capacity"
    SECURITY = "security", "Security"
    CONFIGURATION = "configuration", "Configuration"
    DEPENDENCY = "dependency", "Dependency"
    OTHER = "other", "Other"


class Severity(models.TextChoices):
    # The event severities above "debug", so a problem's severity reads like its events'.
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    ERROR = "error", "Error"
    CRITICAL = "critical", "Critical"


class ProblemStatus(models.TextChoices):
    OPEN = "open", "Open"
    MITIGATED = "mitigated", "Mitigated"
    RESOLVED = "resolved", "Resolved"
    IGNORED = "ignored", "Ignored"


class NodeKind(models.TextChoices):
    PROBLEM = "problem", "Problem"
    SOLUTION = "solution", "Solution"
    PATTERN = "pattern", "Pattern"


class Relation(models.TextChoices):
    CAUSES = "causes", "causes"
    SOLVED_BY = "solved_by", "solved by"
    SIMILAR_TO = "similar_to", "similar to"
    CORRELATES_WITH = "correlates_with", "correlates with"
    INSTANCE_OF = "instance_of", "instance of"
    APPLIES_TO = "applies_to", "applies to"


# --- Beta posterior -----------------------------------------------------------------------------


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    """Lentz's continued fraction for the incomplete beta function (Numerical Recipes)."""
    tiny, eps = 1e-300, 3e-14
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < eps:
            break
    return h


def beta_cdf(x: float, a: float, b: float) -> float:
    """The regularised incomplete beta I_x(a, b): P(X <= x) for X ~ Beta(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(log_front)
    # The fraction converges fast only on one side of the mean; use the symmetry otherwise.
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_continued_fraction(a, b, x) / a
    return 1.0 - front * _beta_continued_fraction(b, a, 1.0 - x) / b


def beta_quantile(p: float, a: float, b: float) -> float:
    """The x with I_x(a, b) = p, by bisection (scipy is not a dependency; 60 halvings of
    [0, 1] are exact to float precision and cost microseconds)."""
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2.0
        if beta_cdf(mid, a, b) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0


def success_interval(successes: int, failures: int) -> tuple[float, float]:
    """The central ``CREDIBLE_MASS`` interval of the Beta(1 + s, 1 + f) posterior."""
    a, b = 1.0 + successes, 1.0 + failures
    tail = (1.0 - CREDIBLE_MASS) / 2.0
    return beta_quantile(tail, a, b), beta_quantile(1.0 - tail, a, b)


# --- Nodes --------------------------------------------------------------------------------------


class NodeMixin:
    """What every node kind shares: its ``(kind, id)`` address in the edge table."""

    node_kind: str

    @property
    def node(self) -> Node:
        return (self.node_kind, self.pk)  # type: ignore[attr-defined]


def embedding_text(
    title: str, description: str, log_template: str, error_patterns: list[Any]
) -> str:
    """What a problem's vector is computed from: the words an operator's title and a log
    line share. Repeated parts count once (a sighted problem's title is its template)."""
    parts = [title, description, log_template, *map(str, error_patterns)]
    return "\n".join(dict.fromkeys(p for p in parts if p))


class ProblemQuerySet(models.QuerySet):
    def canonical(self) -> ProblemQuerySet:
        """Problems that were not merged into another one."""
        return self.filter(merged_into__isnull=True)


class Problem(NodeMixin, models.Model):
    """A fingerprinted kind of failure. Sightings land here through
    ``services.record_sighting``; curators edit the descriptive fields in the admin."""

    node_kind = NodeKind.PROBLEM

    fingerprint = models.CharField(max_length=100, unique=True)
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    category = models.CharField(
        max_length=20, choices=Category.choices, default=Category.OTHER, db_index=True
    )
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.ERROR)
    signal = models.CharField(
        max_length=100,
        blank=True,
        db_index=True,
        help_text="Signal name the remediation rules match on, e.g. 'import_timeout'.",
    )
    services = ArrayField(models.CharField(max_length=100), default=list, blank=True)
    error_patterns = models.JSONField(
        default=list, blank=True, help_text="Example messages or regular expressions."
    )
    log_template = models.TextField(blank=True)
    embedding = VectorField(dimensions=EMBEDDING_DIMENSIONS, null=True, blank=True)
    embedding_provider = models.CharField(max_length=100, blank=True)
    occurrence_count = models.BigIntegerField(default=0)
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now, db_index=True)
    status = models.CharField(
        max_length=10, choices=ProblemStatus.choices, default=ProblemStatus.OPEN, db_index=True
    )
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="duplicates"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ProblemQuerySet.as_manager()

    class Meta:
        ordering = ["-last_seen"]
        indexes = [
            HnswIndex(
                name="knowledge_problem_embed_hnsw",
                fields=["embedding"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def embedding_text(self) -> str:
        return embedding_text(self.title, self.description, self.log_template, self.error_patterns)


class Occurrence(models.Model):
    """Sightings of a problem in one minute from one service instance.

    High-rate sightings collapse into one row per (problem, minute, service, instance), kept
    by an upsert that adds to ``count``; the first few event ids are kept as evidence. That
    is enough for an occurrence chart (sum ``count`` by bucket) and for correlation in time,
    at a bounded number of rows whatever the event rate.
    """

    problem = models.ForeignKey(Problem, on_delete=models.CASCADE, related_name="occurrences")
    at = models.DateTimeField(help_text="Start of the minute bucket.")
    service = models.CharField(max_length=100, blank=True)
    instance = models.CharField(max_length=200, blank=True)
    count = models.PositiveIntegerField(default=0)
    event_ids = models.JSONField(default=list, blank=True)
    last_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at"]
        constraints = [
            models.UniqueConstraint(
                fields=["problem", "at", "service", "instance"], name="knowledge_occurrence_bucket"
            )
        ]
        indexes = [models.Index(fields=["at"], name="knowledge_occurrence_at")]

    def __str__(self) -> str:
        return f"{self.problem_id} @ {self.at:%Y-%m-%d %H:%M} x{self.count}"

    @staticmethod
    def bucket(moment: datetime) -> datetime:
        return moment.replace(second=0, microsecond=0)


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


# --- Edges --------------------------------------------------------------------------------------

NODE_MODELS: dict[str, type[models.Model]] = {
    NodeKind.PROBLEM: Problem,
    NodeKind.SOLUTION: Solution,
    NodeKind.PATTERN: Pattern,
}


class Edge(models.Model):
    """A typed, weighted relation between two nodes, reinforced by repeated evidence.

    ``weight`` is the mean of the weights observed so far; ``evidence_count`` how many times
    the relation was observed (see :meth:`reinforced_weight`).
    """

    source_kind = models.CharField(max_length=10, choices=NodeKind.choices)
    source_id = models.BigIntegerField()
    relation = models.CharField(max_length=20, choices=Relation.choices)
    target_kind = models.CharField(max_length=10, choices=NodeKind.choices)
    target_id = models.BigIntegerField()
    weight = models.FloatField(default=1.0)
    evidence_count = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["source_kind", "source_id", "relation"]
        constraints = [
            models.UniqueConstraint(
                fields=["source_kind", "source_id", "target_kind", "target_id", "relation"],
                name="knowledge_edge_unique",
            )
        ]
        indexes = [
            models.Index(fields=["target_kind", "target_id"], name="knowledge_edge_target"),
        ]

    def __str__(self) -> str:
        return (
            f"{self.source_kind}:{self.source_id} {self.relation} "
            f"{self.target_kind}:{self.target_id}"
        )

    @property
    def source(self) -> Node:
        return (self.source_kind, self.source_id)

    @property
    def target(self) -> Node:
        return (self.target_kind, self.target_id)

    @staticmethod
    def reinforced_weight(
        weight: float, evidence: int, new_weight: float, new_evidence: int
    ) -> float:
        """Running mean, so many weak observations are not outweighed by one strong one."""
        return (weight * evidence + new_weight * new_evidence) / (evidence + new_evidence)

    def node_object(self, end: str) -> models.Model | None:
        kind, pk = self.source if end == "source" else self.target
        return NODE_MODELS[kind].objects.filter(pk=pk).first()


class KnowledgeNode(models.Model):
    """Read-only view over every node kind (``knowledge_nodes``, created by a migration)."""

    key = models.CharField(max_length=40, primary_key=True)
    kind = models.CharField(max_length=10, choices=NodeKind.choices)
    node_id = models.BigIntegerField(db_column="id")
    label = models.CharField(max_length=300)
    created = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "knowledge_nodes"

    def __str__(self) -> str:
        return f"{self.kind}:{self.node_id} {self.label}"


@receiver(post_delete, sender=Problem)
@receiver(post_delete, sender=Solution)
@receiver(post_delete, sender=Pattern)
def _drop_edges_of_deleted_node(sender: type[models.Model], instance: Any, **kwargs: Any) -> None:
    kind, pk = instance.node
    Edge.objects.filter(
        models.Q(source_kind=kind, source_id=pk) | models.Q(target_kind=kind, target_id=pk)
    ).delete()


class DiagnosisStatus(models.TextChoices):
    OPEN = "open", "open"
    REMEDIATING = "remediating", "remediating"
    RESOLVED = "resolved", "resolved"
    DISMISSED = "dismissed", "dismissed"


class Diagnosis(models.Model):
    """Why a problem happened, as the diagnostic agent reasoned it, with its evidence.

    ``signal`` names the cause in the words remediation rules match on (``import_timeout``);
    ``suggestions`` are solutions ranked by their proven success. Repeats of the same problem
    on the same service within minutes reinforce the open diagnosis (``event_count``).
    """

    problem = models.ForeignKey(Problem, on_delete=models.CASCADE, related_name="diagnoses")
    service = models.CharField(max_length=100, blank=True)
    instance = models.CharField(max_length=200, blank=True)
    trigger_event_id = models.CharField(max_length=64, unique=True)
    trigger_type = models.CharField(max_length=100)
    root_cause = models.TextField()
    signal = models.CharField(max_length=100, blank=True, db_index=True)
    confidence = models.FloatField()
    hypotheses = models.JSONField(default=list, blank=True)
    evidence = models.JSONField(default=dict, blank=True)
    suggestions = models.JSONField(default=list, blank=True)
    status = models.CharField(
        max_length=20, choices=DiagnosisStatus.choices, default=DiagnosisStatus.OPEN
    )
    event_count = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    last_seen = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "diagnoses"
        indexes = [models.Index(fields=["problem", "service", "status", "-last_seen"])]

    def __str__(self) -> str:
        return f"{self.root_cause} ({self.confidence:.0%})"


class Recommendation(models.Model):
    """A value the learning agent learned for others to use (e.g. ``import.batch_size``)."""

    key = models.CharField(max_length=100, unique=True)
    value = models.JSONField()
    confidence = models.FloatField(default=0.0)
    evidence = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return f"{self.key} = {self.value}"

    @classmethod
    def value_of(cls, key: str, default: Any = None) -> Any:
        row = cls.objects.filter(key=key).values_list("value", flat=True).first()
        return default if row is None else row
