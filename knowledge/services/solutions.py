"""Solutions: the fixes known for a problem and their verified track record."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from knowledge.models import (
    Problem,
    Relation,
    Solution,
    SolutionSource,
)
from knowledge.services.announce import TITLE_LENGTH
from knowledge.services.edges import ensure_edge

# --- Solutions ----------------------------------------------------------------------------------


@transaction.atomic
def add_solution(
    problem: Problem | None,
    title: str,
    *,
    steps: str = "",
    action: str = "",
    parameters: dict[str, Any] | None = None,
    source: str = SolutionSource.MANUAL,
) -> tuple[Solution, bool]:
    """The problem's solution with this title, created with its ``solved_by`` edge when
    missing; an existing one keeps its curated text and its outcome counts."""
    solution, created = Solution.objects.get_or_create(
        problem=problem,
        title=title[:TITLE_LENGTH],
        defaults={
            "steps": steps,
            "action": action,
            "parameters": parameters or {},
            "source": source,
        },
    )
    if problem is not None:
        ensure_edge(problem, Relation.SOLVED_BY, solution)
    return solution, created


@transaction.atomic
def record_solution_outcome(solution: Solution, succeeded: bool) -> Solution:
    """Count one verified outcome; the row is locked so concurrent verifications add up."""
    locked = Solution.objects.select_for_update().get(pk=solution.pk)
    if succeeded:
        locked.successes += 1
    else:
        locked.failures += 1
    locked.save(update_fields=["successes", "failures", "updated_at"])
    return locked
