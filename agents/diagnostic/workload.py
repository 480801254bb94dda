"""The trigger's own workload as evidence: how big the import that failed was."""

from __future__ import annotations

import re
from typing import Any

from agents.events import Event

LARGE_IMPORT_BOOKMARKS = 10_000
SMALL_IMPORT_BOOKMARKS = 2_000


def weigh_workload(trigger: Event, hypotheses: list[Any]) -> None:
    """A huge import makes timeout and memory explanations likelier, and says so; a small
    one makes "the file is too large" unlikely (something else starved the worker)."""
    count = trigger.payload.get("bookmark_count")
    if trigger.type != "import.failed" or count is None:
        return
    if count < SMALL_IMPORT_BOOKMARKS:
        for hypothesis in hypotheses:
            if hypothesis.kind == "known-problem" and re.search(
                r"\blarge\b", hypothesis.cause, re.I
            ):
                hypothesis.score -= 0.3
                hypothesis.evidence.append(
                    {"kind": "workload", "bookmark_count": count, "note": "a small import"}
                )
        return
    if count < LARGE_IMPORT_BOOKMARKS:
        return
    for hypothesis in hypotheses:
        if hypothesis.kind == "known-problem" and re.search(
            r"timeout|memory|large|batch", hypothesis.signal + hypothesis.cause, re.I
        ):
            hypothesis.score += 0.3
            hypothesis.evidence.append(
                {"kind": "workload", "bookmark_count": count,
                 "batch_size": trigger.payload.get("batch_size"),
                 "source": trigger.payload.get("source")}
            )  # fmt: skip
