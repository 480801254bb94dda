"""Import: set rows to an export's values, all or nothing."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from tqdm import tqdm

from knowledge import services
from knowledge.backup.fileformat import (
    FORMAT,
    PATTERN_FIELDS,
    PROBLEM_FIELDS,
    SOLUTION_FIELDS,
    VERSION,
    BackupFormatError,
    parse_time,
)
from knowledge.models import (
    Edge,
    Node,
    NodeKind,
    Occurrence,
    Pattern,
    PatternVersion,
    Problem,
    Solution,
)


def check_format(data: Any) -> None:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise BackupFormatError(
            f"not an AI-Ops knowledge export (format {found!r}, want {FORMAT!r})"
        )
    if data.get("version") != VERSION:
        raise BackupFormatError(
            f"unsupported knowledge export version {data.get('version')!r}; "
            f"this installation reads version {VERSION}"
        )


def _set_fields(obj: Any, values: dict[str, Any]) -> bool:
    changed = [name for name, value in values.items() if getattr(obj, name) != value]
    for name in changed:
        setattr(obj, name, values[name])
    return bool(changed)


@dataclass
class _Import:
    """What an import has loaded so far, by natural key, and how many rows it changed."""

    progress: bool
    problems: dict[str, Problem] = field(default_factory=dict)
    solutions: dict[tuple[str | None, str], Solution] = field(default_factory=dict)
    patterns: dict[str, Pattern] = field(default_factory=dict)
    stats: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("problems", "solutions", "patterns", "versions", "edges", "occurrences"), 0
        )
    )

    def rows(self, data: dict[str, Any], kind: str) -> Iterable[dict[str, Any]]:
        return tqdm(data.get(kind, []), desc=kind, disable=not self.progress)

    def node(self, ref: dict[str, Any]) -> Node:
        kind, key = ref["kind"], ref["key"]
        if kind == NodeKind.PROBLEM:
            return self.problems[key].node
        if kind == NodeKind.SOLUTION:
            return self.solutions[tuple(key)].node
        if kind == NodeKind.PATTERN:
            return self.patterns[key].node
        raise BackupFormatError(f"unknown node kind {kind!r}")


@transaction.atomic
def import_knowledge(data: dict[str, Any], *, progress: bool = False) -> dict[str, int]:
    """Load an export; returns how many rows were created or changed, by kind. All or
    nothing: a bad row rolls the whole import back."""
    check_format(data)
    state = _Import(progress)
    _import_problems(state, data)
    _import_solutions(state, data)
    _import_patterns(state, data)
    _import_edges(state, data)
    _import_occurrences(state, data)
    return state.stats


def _import_problems(state: _Import, data: dict[str, Any]) -> None:
    state.problems = {p.fingerprint: p for p in Problem.objects.all()}
    to_embed: list[Problem] = []
    for row in state.rows(data, "problems"):
        values = {name: row[name] for name in PROBLEM_FIELDS if name in row}
        values["first_seen"] = parse_time(row.get("first_seen")) or timezone.now()
        values["last_seen"] = parse_time(row.get("last_seen")) or timezone.now()
        problem = state.problems.get(row["fingerprint"])
        if problem is None:
            problem = Problem.objects.create(fingerprint=row["fingerprint"], **values)
            state.problems[problem.fingerprint] = problem
            to_embed.append(problem)
            state.stats["problems"] += 1
            continue
        text_before = problem.embedding_text()
        if _set_fields(problem, values):
            problem.save()
            state.stats["problems"] += 1
            if problem.embedding_text() != text_before or problem.embedding is None:
                to_embed.append(problem)
    for row in data.get("problems", []):  # merges point at rows that may come later
        target = state.problems[row["merged_into"]] if row.get("merged_into") else None
        problem = state.problems[row["fingerprint"]]
        if problem.merged_into_id != (target.pk if target else None):
            problem.merged_into = target
            problem.save(update_fields=["merged_into"])
    services.embed_problems(to_embed)


def _import_solutions(state: _Import, data: dict[str, Any]) -> None:
    state.solutions = {s.key: s for s in Solution.objects.select_related("problem")}
    for row in state.rows(data, "solutions"):
        key = (row.get("problem"), row["title"])
        values = {name: row[name] for name in SOLUTION_FIELDS if name in row}
        solution = state.solutions.get(key)
        if solution is None:
            owner = state.problems[key[0]] if key[0] else None
            solution = Solution.objects.create(problem=owner, title=key[1], **values)
            state.solutions[key] = solution
            state.stats["solutions"] += 1
        elif _set_fields(solution, values):
            solution.save()
            state.stats["solutions"] += 1


def _import_patterns(state: _Import, data: dict[str, Any]) -> None:
    state.patterns = {p.name: p for p in Pattern.objects.all()}
    for row in state.rows(data, "patterns"):
        values = {name: row[name] for name in PATTERN_FIELDS if name in row}
        pattern = state.patterns.get(row["name"])
        if pattern is None:
            pattern = Pattern.objects.create(name=row["name"], **values)
            state.patterns[pattern.name] = pattern
            state.stats["patterns"] += 1
        elif _set_fields(pattern, values):
            pattern.save()
            state.stats["patterns"] += 1
        wanted_problems = {state.problems[fp].pk for fp in row.get("problems", [])}
        if set(pattern.problems.values_list("pk", flat=True)) != wanted_problems:
            pattern.problems.set(wanted_problems)
        wanted_solutions = {
            state.solutions[(fp, title)].pk for fp, title in row.get("solutions", [])
        }
        if set(pattern.solutions.values_list("pk", flat=True)) != wanted_solutions:
            pattern.solutions.set(wanted_solutions)
        _import_versions(state, pattern, row.get("versions", []))


def _import_versions(state: _Import, pattern: Pattern, versions: list[dict[str, Any]]) -> None:
    users = get_user_model()
    have = set(pattern.versions.values_list("version", flat=True))
    for version in versions:
        if version["version"] in have:
            continue
        author = version.get("created_by")
        PatternVersion.objects.create(
            pattern=pattern,
            version=version["version"],
            snapshot=version["snapshot"],
            created_at=parse_time(version.get("created_at")) or timezone.now(),
            created_by=users.objects.filter(**{users.USERNAME_FIELD: author}).first()
            if author
            else None,
            reason=version.get("reason", ""),
        )
        state.stats["versions"] += 1


def _import_edges(state: _Import, data: dict[str, Any]) -> None:
    for row in state.rows(data, "edges"):
        (sk, si), (tk, ti) = state.node(row["source"]), state.node(row["target"])
        values = {"weight": row.get("weight", 1.0), "evidence_count": row.get("evidence_count", 1)}
        edge, created = Edge.objects.get_or_create(
            source_kind=sk,
            source_id=si,
            target_kind=tk,
            target_id=ti,
            relation=row["relation"],
            defaults=values,
        )
        if created:
            state.stats["edges"] += 1
        elif _set_fields(edge, values):
            edge.save()
            state.stats["edges"] += 1


def _import_occurrences(state: _Import, data: dict[str, Any]) -> None:
    for row in state.rows(data, "occurrences"):
        at = parse_time(row["at"])
        where = {
            "problem": state.problems[row["problem"]],
            "at": at,
            "service": row.get("service", ""),
            "instance": row.get("instance", ""),
        }
        values = {
            "count": row["count"],
            "event_ids": row.get("event_ids", []),
            "last_at": parse_time(row.get("last_at")) or at,
        }
        existing = Occurrence.objects.filter(**where).first()
        if existing is None:
            Occurrence.objects.create(**where, **values)
            state.stats["occurrences"] += 1
        elif _set_fields(existing, values):
            existing.save()
            state.stats["occurrences"] += 1
