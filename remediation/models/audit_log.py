"""The append-only audit log (its keyed hash chain is kept by ``remediation/audit.py``)."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from django.db import models


def kind_words(kind: str) -> str:
    """``run.auto_approved`` as words, "Run auto approved": the stored kind stays the
    searchable, exported code; a person reads the words."""
    return kind.replace(".", " ").replace("_", " ").capitalize()


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
        return f"#{self.pk}: {self.kind_label} by {self.actor}"

    @property
    def kind_label(self) -> str:
        return kind_words(self.kind)

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
