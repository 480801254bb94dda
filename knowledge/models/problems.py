"""Problems (fingerprinted kinds of failure) and their per-minute occurrences."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone
from pgvector.django import HnswIndex, VectorField

from knowledge.embeddings import EMBEDDING_DIMENSIONS
from knowledge.models.choices import (
    Category,
    Node,
    NodeKind,
    ProblemStatus,
    Severity,
)


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


class CountedEvent(models.Model):
    """An event already counted into a problem: a redelivered event counts once.

    The mesh delivers at least once; a worker that dies between committing a sighting and
    acknowledging its event would otherwise count it again. Rows are kept for
    ``COUNTED_EVENTS_KEPT_FOR`` (redeliveries come within minutes), then pruned.
    """

    event_id = models.CharField(max_length=64, primary_key=True)
    counted_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return self.event_id
