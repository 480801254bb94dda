"""Choices and constants shared by the knowledge graph's models."""

from __future__ import annotations

from django.db import models

# A node of the graph: (kind, primary key).
Node = tuple[str, int]

OCCURRENCE_EVENT_IDS_CAP = 20


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
