"""Problems (fingerprinted kinds of failure) and their per-minute occurrences."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from django.contrib.postgres.fields import ArrayField
from django.db import connection, models
from django.utils import timezone
from pgvector.django import HnswIndex, VectorField

from core.humane import exact
from knowledge.embeddings import EMBEDDING_DIMENSIONS
from knowledge.incident_text import readable
from knowledge.logmask import PARAM as WILDCARD  # drain3's and the fingerprinter's parameter
from knowledge.models.choices import (
    Category,
    Node,
    NodeKind,
    ProblemStatus,
    Severity,
)

#: A problem's title is at most this long; an automatic title is its log template cut here.
TITLE_LENGTH = 300


def generalises(old: str, new: str) -> bool:
    """Whether template ``new`` is ``old`` with some words, or parts of words, replaced by
    wildcards: the only move a fingerprint's template makes as it learns (drain3 and the
    fingerprinter's folds are forward-only). Anything else is a different event, whose
    words must never replace a problem's."""
    return _wildcards_cover(old, new, skip_masked=False)


def folds_a_word(line: str, template: str) -> bool:
    """Whether ``template`` has a slot where ``line`` (one message, its values already masked
    as the fingerprinter masks them) has a word: the word position was folded (user names),
    so the line names one value of many. Where the line has a masked value, the template may
    read anything (a slot, or a value it kept); a word the template has otherwise is a
    different event."""
    return _wildcards_cover(line, template, skip_masked=True)


def _wildcards_cover(specific: str, general: str, *, skip_masked: bool) -> bool:
    """Whether ``general`` reads ``specific`` word for word, with at least one word read
    through a wildcard. ``skip_masked``: a word of ``specific`` that is itself a masked value
    matches whatever ``general`` has there (a line against a template; two templates must
    agree on their own wildcards)."""
    specific_words, general_words = specific.split(), general.split()
    if len(specific_words) != len(general_words):
        return False
    moved = False
    for word, slot in zip(specific_words, general_words, strict=True):
        if word == slot or (skip_masked and WILDCARD in word):
            continue
        if not _slot_covers(slot, word):
            return False
        moved = True
    return moved


def _slot_covers(general: str, word: str) -> bool:
    """Whether template word ``general`` has wildcards and reads ``word`` with them filled."""
    if WILDCARD not in general:
        return False
    pattern = ".+?".join(re.escape(part) for part in general.split(WILDCARD))
    return re.fullmatch(pattern, word, re.DOTALL) is not None


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


# SET expressions read the row as it was, so the title's test compares it with the template
# being replaced; the locked subquery re-checks its conditions after waiting for the row.
_FOLLOW_TEMPLATE = """
UPDATE knowledge_problem AS p SET
    log_template = %(new)s,
    title = CASE WHEN p.title = LEFT(p.log_template, %(length)s) THEN %(title)s
                 ELSE p.title END,
    updated_at = now()
FROM (SELECT id, title FROM knowledge_problem
      WHERE id = %(id)s AND log_template = %(old)s AND merged_into_id IS NULL
      FOR UPDATE) AS before
WHERE p.id = before.id
RETURNING before.title, p.title
"""


class ProblemQuerySet(models.QuerySet):
    def canonical(self) -> ProblemQuerySet:
        """Problems that were not merged into another one."""
        return self.filter(merged_into__isnull=True)


class Problem(NodeMixin, models.Model):
    """A fingerprinted kind of failure. Sightings land here through
    ``services.record_sighting``; curators edit the descriptive fields in the admin."""

    node_kind = NodeKind.PROBLEM

    fingerprint = models.CharField(max_length=100, unique=True)
    title = models.CharField(max_length=TITLE_LENGTH)
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
        # Headings, breadcrumbs and every column naming a problem: an automatic title is its
        # log template, so say it without "<*>" (the stored title stays the template).
        return readable(self.title)

    def embedding_text(self) -> str:
        return embedding_text(self.title, self.description, self.log_template, self.error_patterns)

    @property
    def title_is_automatic(self) -> bool:
        """Whether the title is still the one derived from the log template (the template,
        cut to ``TITLE_LENGTH``), so it may follow the template as it generalises. A title
        anyone wrote (a curator in the admin, a seed, the API) differs from it and is kept."""
        return bool(self.log_template) and self.title == self.log_template[:TITLE_LENGTH]

    def follow_template(self, template: str) -> list[str]:
        """Take ``template`` as the log template when it generalises the stored one, and the
        title with it when the title is automatic; returns the fields changed (none when the
        template is not a generalisation, or the row moved meanwhile).

        A conditional UPDATE: it applies only while the stored template is still the one
        read here and the problem is canonical, so concurrent callers change the row once.
        The title's test runs on the row as it is in the database (a curator's edit that
        committed after we read the row is never overwritten).
        """
        if not generalises(self.log_template, template):
            return []
        with connection.cursor() as cursor:
            cursor.execute(
                _FOLLOW_TEMPLATE,
                {
                    "id": self.pk,
                    "old": self.log_template,
                    "new": template,
                    "title": template[:TITLE_LENGTH],
                    "length": TITLE_LENGTH,
                },
            )
            row = cursor.fetchone()
        if row is None:
            return []
        before, self.title = row
        self.log_template = template
        return ["title", "log_template"] if before != self.title else ["log_template"]


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
        times = "once" if self.count == 1 else f"{self.count} times"
        return f"Seen {times} in the minute from {exact(self.at)}"

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
