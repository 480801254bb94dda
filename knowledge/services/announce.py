"""How knowledge tells the rest of the system that a problem appeared or changed.

Knowledge is a leaf: it imports no app above it. It sends :data:`knowledge.signals.
problem_changed` inside the transaction that made the change; the agents layer turns the
signal into a ``problem.*`` event published after commit, so no consumer ever reads an event
about a row it cannot see (or that was rolled back).
"""

from __future__ import annotations

from typing import Any

from knowledge.models import Problem
from knowledge.models.problems import TITLE_LENGTH
from knowledge.signals import problem_changed

__all__ = ["TITLE_LENGTH", "announce_problem"]


def announce_problem(problem: Problem, *, created: bool = False, **details: Any) -> None:
    """``details``: service, instance, reopened, changed (field names) or merged (ids)."""
    problem_changed.send(sender=Problem, problem=problem, created=created, details=details)
