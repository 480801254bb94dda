"""The cast of incident tests: a diagnosis of a catalogue problem and one of a learned
template, each opened as an incident the way the diagnostic agent does it."""

from __future__ import annotations

from typing import Any

from ulid import ULID

from knowledge import services
from knowledge.models import Diagnosis, Incident, Problem


def make_problem(fingerprint: str, title: str, signal: str = "", **fields: Any) -> Problem:
    problem, _ = Problem.objects.get_or_create(
        fingerprint=fingerprint,
        defaults={"title": title, "signal": signal, "category": "import", **fields},
    )
    return problem


def make_diagnosis(problem: Problem | None = None, **fields: Any) -> Diagnosis:
    problem = problem or make_problem(
        "catalogue:import-worker-memory-leak", "Import worker memory leak", "high_memory_usage",
        severity="critical",
    )  # fmt: skip
    defaults: dict[str, Any] = {
        "service": "import-worker",
        "instance": "import-worker-1",
        "trigger_event_id": str(ULID()),
        "trigger_type": "log.line",
        "root_cause": problem.title,
        "signal": problem.signal,
        "confidence": 0.92,
        "evidence": {"message": "MemoryError: import worker exceeded memory limit"},
    }
    return Diagnosis.objects.create(problem=problem, **{**defaults, **fields})


def open_incident(**fields: Any) -> Incident:
    return services.open_incident(make_diagnosis(**fields))
