"""The export file's format: its name, version, the fields kept per kind, timestamps."""

from __future__ import annotations

from datetime import datetime

from django.utils.dateparse import parse_datetime

FORMAT = "aiops-knowledge"
VERSION = 1

PROBLEM_FIELDS = (
    "title",
    "description",
    "category",
    "severity",
    "signal",
    "services",
    "error_patterns",
    "log_template",
    "occurrence_count",
    "status",
)
SOLUTION_FIELDS = ("steps", "action", "parameters", "source", "successes", "failures")
PATTERN_FIELDS = (
    "kind",
    "description",
    "matcher",
    "confidence",
    "validated",
    "retired",
    "matches_confirmed",
    "matches_refuted",
    "version",
)


class BackupFormatError(ValueError):
    """The file is not an AI-Ops knowledge export this version can read."""


def format_time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def parse_time(value: str | None) -> datetime | None:
    return parse_datetime(value) if value else None
