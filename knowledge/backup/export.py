"""Export: the graph, or the part around some problems, as a JSON-ready dict."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone
from tqdm import tqdm

from knowledge.backup.fileformat import (
    FORMAT,
    PATTERN_FIELDS,
    PROBLEM_FIELDS,
    SOLUTION_FIELDS,
    VERSION,
    format_time,
)
from knowledge.models import (
    Edge,
    Node,
    Occurrence,
    Pattern,
    Problem,
    Solution,
)


def _node_key(node: Node, keys: dict[Node, Any]) -> dict[str, Any] | None:
    key = keys.get(node)
    return None if key is None else {"kind": node[0], "key": key}


@dataclass
class _Selection:
    """The rows an export covers, and each node's natural key."""

    problems: list[Problem]
    solutions: list[Solution]
    patterns: list[Pattern]
    keys: dict[Node, Any] = field(default_factory=dict)


def _select(problems: Iterable[Problem] | None) -> _Selection:
    if problems is None:
        problem_qs = Problem.objects.all()
        solution_qs = Solution.objects.all()
        pattern_qs = Pattern.objects.all()
    else:
        ids = [p.pk for p in problems]
        problem_qs = Problem.objects.filter(pk__in=ids)
        solution_qs = Solution.objects.filter(problem__in=ids)
        pattern_qs = Pattern.objects.filter(problems__in=ids).distinct()
    selection = _Selection(
        problems=list(problem_qs.select_related("merged_into").order_by("fingerprint")),
        solutions=list(
            solution_qs.select_related("problem").order_by("problem__fingerprint", "title")
        ),
        patterns=list(
            pattern_qs.prefetch_related("problems", "solutions__problem").order_by("name")
        ),
    )
    selection.keys = {p.node: p.fingerprint for p in selection.problems}
    selection.keys.update({s.node: list(s.key) for s in selection.solutions})
    selection.keys.update({p.node: p.name for p in selection.patterns})
    return selection


def export_knowledge(
    problems: Iterable[Problem] | None = None, *, occurrences: bool = True, progress: bool = False
) -> dict[str, Any]:
    """The graph (or the part around some problems: their solutions, the patterns and edges
    that touch them) as a JSON-ready dict."""
    selection = _select(problems)
    return {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": timezone.now().isoformat(),
        "problems": _export_problems(selection.problems, progress),
        "solutions": _export_solutions(selection.solutions),
        "patterns": _export_patterns(selection.patterns, progress),
        "edges": _export_edges(selection.keys),
        "occurrences": _export_occurrences(selection.problems) if occurrences else [],
    }


def _export_problems(problems: list[Problem], progress: bool) -> list[dict[str, Any]]:
    rows = []
    for problem in tqdm(problems, desc="problems", disable=not progress):
        row = {"fingerprint": problem.fingerprint}
        row.update({name: getattr(problem, name) for name in PROBLEM_FIELDS})
        row["first_seen"] = format_time(problem.first_seen)
        row["last_seen"] = format_time(problem.last_seen)
        row["merged_into"] = problem.merged_into.fingerprint if problem.merged_into else None
        rows.append(row)
    return rows


def _export_solutions(solutions: list[Solution]) -> list[dict[str, Any]]:
    rows = []
    for solution in solutions:
        row = {"problem": solution.key[0], "title": solution.title}
        row.update({name: getattr(solution, name) for name in SOLUTION_FIELDS})
        rows.append(row)
    return rows


def _export_patterns(patterns: list[Pattern], progress: bool) -> list[dict[str, Any]]:
    rows = []
    for pattern in tqdm(patterns, desc="patterns", disable=not progress):
        row = {"name": pattern.name}
        row.update({name: getattr(pattern, name) for name in PATTERN_FIELDS})
        row["problems"] = sorted(p.fingerprint for p in pattern.problems.all())
        row["solutions"] = sorted(list(s.key) for s in pattern.solutions.all())
        row["versions"] = [
            {
                "version": v.version,
                "snapshot": v.snapshot,
                "created_at": format_time(v.created_at),
                "created_by": v.created_by.get_username() if v.created_by else None,
                "reason": v.reason,
            }
            for v in pattern.versions.select_related("created_by").order_by("version")
        ]
        rows.append(row)
    return rows


def _export_edges(keys: dict[Node, Any]) -> list[dict[str, Any]]:
    rows = []
    for edge in Edge.objects.order_by("id"):
        source, target = _node_key(edge.source, keys), _node_key(edge.target, keys)
        if source is None or target is None:
            continue  # an edge leaving the exported part
        rows.append(
            {
                "source": source,
                "relation": edge.relation,
                "target": target,
                "weight": edge.weight,
                "evidence_count": edge.evidence_count,
            }
        )
    return rows


def _export_occurrences(problems: list[Problem]) -> list[dict[str, Any]]:
    found = Occurrence.objects.filter(problem__in=problems).select_related("problem")
    return [
        {
            "problem": occ.problem.fingerprint,
            "at": format_time(occ.at),
            "service": occ.service,
            "instance": occ.instance,
            "count": occ.count,
            "event_ids": occ.event_ids,
            "last_at": format_time(occ.last_at),
        }
        for occ in found.order_by("problem__fingerprint", "at", "service", "instance").iterator()
    ]
