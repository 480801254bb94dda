"""The seed catalogue: what AI-Ops Core knows about the bookmark manager before it has seen
anything (``manage.py seed_knowledge``).

The catalogue is data (``fixtures/bookmark_catalogue.json``): problems with their error
patterns, the signal remediation rules match on, solutions with action names, edges between
problems, and a few patterns. Seeding only adds what is missing, so it is idempotent and never
overwrites what curators changed since. Seeded problems get the fingerprint
``catalogue:<key>``: stable across installations (exports move between them) and never
produced by the log fingerprinter, so real sightings become their own problems and are tied
to the seeded ones by similarity (and merged by a curator when they are the same).

The catalogue names its application's services (``services``, the simulator's); every seeded
problem lists them, and the diagnostic agent proposes a catalogue problem (and its solutions)
only for errors of those services (``agents.diagnostic.reasoning.applies_to``): another
application's "Deduplicate imported bookmarks" is no advice for a real app's locked database.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import transaction
from tqdm import tqdm

from knowledge import services
from knowledge.models import Pattern, Problem, Solution, SolutionSource

CATALOGUE_PATH = Path(__file__).resolve().parent / "fixtures" / "bookmark_catalogue.json"
FINGERPRINT_PREFIX = "catalogue:"


@dataclass
class SeedReport:
    created: dict[str, int] = field(
        default_factory=lambda: {"problems": 0, "solutions": 0, "edges": 0, "patterns": 0}
    )

    def __str__(self) -> str:
        return ", ".join(f"{count} {kind}" for kind, count in self.created.items()) + " created"


def load_catalogue(path: Path = CATALOGUE_PATH) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def catalogue_fingerprint(key: str) -> str:
    return FINGERPRINT_PREFIX + key


@transaction.atomic
def seed_knowledge(
    catalogue: dict[str, Any] | None = None, *, progress: bool = False
) -> SeedReport:
    """Load the catalogue; returns what was created (nothing on a second run)."""
    catalogue = catalogue if catalogue is not None else load_catalogue()
    report = SeedReport()
    problems: dict[str, Problem] = {}
    entries = catalogue.get("problems", [])
    for entry in tqdm(entries, desc="problems", unit="problem", disable=not progress):
        problem, created = services.ensure_problem(
            fingerprint=catalogue_fingerprint(entry["key"]),
            title=entry["title"],
            description=entry.get("description", ""),
            category=entry["category"],
            severity=entry.get("severity", "error"),
            signal=entry.get("signal", ""),
            # Scoped to the catalogue's application: its advice is for its services only.
            services=sorted({*entry.get("services", []), *catalogue.get("services", [])}),
            error_patterns=entry.get("error_patterns", []),
        )
        problems[entry["key"]] = problem
        report.created["problems"] += created
        for spec in entry.get("solutions", []):
            _, created = services.add_solution(
                problem,
                spec["title"],
                steps=spec.get("steps", ""),
                action=spec.get("action", ""),
                parameters=spec.get("parameters", {}),
                source=SolutionSource.SEEDED,
            )
            report.created["solutions"] += created
    for entry in tqdm(entries, desc="edges", unit="problem", disable=not progress):
        for spec in entry.get("edges", []):
            _, created = services.ensure_edge(
                problems[entry["key"]], spec["relation"], problems[spec["target"]]
            )
            report.created["edges"] += created
    for spec in tqdm(catalogue.get("patterns", []), desc="patterns", disable=not progress):
        report.created["patterns"] += _seed_pattern(spec, problems)
    return report


def _seed_pattern(spec: dict[str, Any], problems: dict[str, Problem]) -> bool:
    if Pattern.objects.filter(name=spec["name"]).exists():
        return False
    pattern = Pattern.objects.create(
        name=spec["name"],
        kind=spec["kind"],
        description=spec.get("description", ""),
        matcher=spec.get("matcher", {}),
        confidence=spec.get("confidence", 0.5),
    )
    pattern.problems.set([problems[key] for key in spec.get("problems", [])])
    pattern.solutions.set(
        [
            Solution.objects.get(problem=problems[key], title=title)
            for key, title in spec.get("solutions", [])
        ]
    )
    services.save_pattern_version(pattern, None, "seeded")
    return True
