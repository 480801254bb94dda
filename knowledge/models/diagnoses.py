"""Diagnoses (why a problem happened) and the learning agent's recommendations."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone

from core.plain_data import one_line
from knowledge.incident_text import readable
from knowledge.models.problems import Problem


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
        return f"{readable(self.root_cause, 200)} ({self.confidence:.0%})"


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
        return f"{self.key} = {one_line(self.value, 120)}"  # never a Python dict

    @classmethod
    def value_of(cls, key: str, default: Any = None) -> Any:
        row = cls.objects.filter(key=key).values_list("value", flat=True).first()
        return default if row is None else row
