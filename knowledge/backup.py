"""Export and import of the knowledge graph as JSON, keyed by natural keys.

Database ids differ between installations, so every reference in the file is a natural key:
a problem is its fingerprint, a solution its problem's fingerprint and its title, a pattern
its name, a user its username. Importing sets rows to the file's values (never adds to
them), so importing the same file twice changes nothing, and an import into a fresh
installation reproduces the export. Embeddings are not exported: they are derived from the
text by the configured provider and are recomputed on import, so a file stays small and
valid across provider changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from tqdm import tqdm

from knowledge import services
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


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _parse_time(value: str | None) -> datetime | None:
    return parse_datetime(value) if value else None


# --- Export -------------------------------------------------------------------------------------


def _node_key(node: Node, keys: dict[Node, Any]) -> dict[str, Any] | None:
    key = keys.get(node)
    return None if key is None else {"kind": node[0], "key": key}


def export_knowledge(
    problems: Iterable[Problem] | None = None, *, occurrences: bool = True, progress: bool = False
) -> dict[str, Any]:
    """The graph (or the part around some problems: their solutions, the patterns and edges
    that touch them) as a JSON-ready dict."""
    if problems is None:
        problem_qs = Problem.objects.all()
        solution_qs = Solution.objects.all()
        pattern_qs = Pattern.objects.all()
    else:
        ids = [p.pk for p in problems]
        problem_qs = Problem.objects.filter(pk__in=ids)
        solution_qs = Solution.objects.filter(problem__in=ids)
        pattern_qs = Pattern.objects.filter(problems__in=ids).distinct()
    problem_list = list(problem_qs.select_related("merged_into").order_by("fingerprint"))
    solution_list = list(
        solution_qs.select_related("problem").order_by("problem__fingerprint", "title")
    )
    pattern_list = list(
        pattern_qs.prefetch_related("problems", "solutions__problem").order_by("name")
    )

    keys: dict[Node, Any] = {p.node: p.fingerprint for p in problem_list}
    keys.update({s.node: list(s.key) for s in solution_list})
    keys.update({p.node: p.name for p in pattern_list})

    data: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": timezone.now().isoformat(),
        "problems": [],
        "solutions": [],
        "patterns": [],
        "edges": [],
        "occurrences": [],
    }
    for problem in tqdm(problem_list, desc="problems", disable=not progress):
        row = {"fingerprint": problem.fingerprint}
        row.update({name: getattr(problem, name) for name in PROBLEM_FIELDS})
        row["first_seen"] = _time(problem.first_seen)
        row["last_seen"] = _time(problem.last_seen)
        row["merged_into"] = problem.merged_into.fingerprint if problem.merged_into else None
        data["problems"].append(row)
    for solution in solution_list:
        row = {"problem": solution.key[0], "title": solution.title}
        row.update({name: getattr(solution, name) for name in SOLUTION_FIELDS})
        data["solutions"].append(row)
    for pattern in tqdm(pattern_list, desc="patterns", disable=not progress):
        row = {"name": pattern.name}
        row.update({name: getattr(pattern, name) for name in PATTERN_FIELDS})
        row["problems"] = sorted(p.fingerprint for p in pattern.problems.all())
        row["solutions"] = sorted(list(s.key) for s in pattern.solutions.all())
        row["versions"] = [
            {
                "version": v.version,
                "snapshot": v.snapshot,
                "created_at": _time(v.created_at),
                "created_by": v.created_by.get_username() if v.created_by else None,
                "reason": v.reason,
            }
            for v in pattern.versions.select_related("created_by").order_by("version")
        ]
        data["patterns"].append(row)
    for edge in Edge.objects.order_by("id"):
        source, target = _node_key(edge.source, keys), _node_key(edge.target, keys)
        if source is None or target is None:
            continue  # an edge leaving the exported part
        data["edges"].append(
            {
                "source": source,
                "relation": edge.relation,
                "target": target,
                "weight": edge.weight,
                "evidence_count": edge.evidence_count,
            }
        )
    if occurrences:
        rows = Occurrence.objects.filter(problem__in=problem_list).select_related("problem")
        for occ in rows.order_by("problem__fingerprint", "at", "service", "instance").iterator():
            data["occurrences"].append(
                {
                    "problem": occ.problem.fingerprint,
                    "at": _time(occ.at),
                    "service": occ.service,
                    "instance": occ.instance,
                    "count": occ.count,
                    "event_ids": occ.event_ids,
                    "last_at": _time(occ.last_at),
                }
            )
    return data


# --- Import -------------------------------------------------------------------------------------


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


@transaction.atomic
def import_knowledge(data: dict[str, Any], *, progress: bool = False) -> dict[str, int]:
    """Load an export; returns how many rows were created or changed, by kind. All or
    nothing: a bad row rolls the whole import back."""
    check_format(data)
    stats = {
        "problems": 0,
        "solutions": 0,
        "patterns": 0,
        "versions": 0,
        "edges": 0,
        "occurrences": 0,
    }
    problems: dict[str, Problem] = {p.fingerprint: p for p in Problem.objects.all()}
    to_embed: list[Problem] = []
    for row in tqdm(data.get("problems", []), desc="problems", disable=not progress):
        values = {name: row[name] for name in PROBLEM_FIELDS if name in row}
        values["first_seen"] = _parse_time(row.get("first_seen")) or timezone.now()
        values["last_seen"] = _parse_time(row.get("last_seen")) or timezone.now()
        problem = problems.get(row["fingerprint"])
        if problem is None:
            problem = Problem.objects.create(fingerprint=row["fingerprint"], **values)
            problems[problem.fingerprint] = problem
            to_embed.append(problem)
            stats["problems"] += 1
            continue
        text_before = problem.embedding_text()
        if _set_fields(problem, values):
            problem.save()
            stats["problems"] += 1
            if problem.embedding_text() != text_before or problem.embedding is None:
                to_embed.append(problem)
    for row in data.get("problems", []):
        target = problems[row["merged_into"]] if row.get("merged_into") else None
        problem = problems[row["fingerprint"]]
        if problem.merged_into_id != (target.pk if target else None):
            problem.merged_into = target
            problem.save(update_fields=["merged_into"])
    services.embed_problems(to_embed)

    solutions: dict[tuple[str | None, str], Solution] = {
        s.key: s for s in Solution.objects.select_related("problem")
    }
    for row in tqdm(data.get("solutions", []), desc="solutions", disable=not progress):
        key = (row.get("problem"), row["title"])
        values = {name: row[name] for name in SOLUTION_FIELDS if name in row}
        solution = solutions.get(key)
        if solution is None:
            owner = problems[key[0]] if key[0] else None
            solution = Solution.objects.create(problem=owner, title=key[1], **values)
            solutions[key] = solution
            stats["solutions"] += 1
        elif _set_fields(solution, values):
            solution.save()
            stats["solutions"] += 1

    patterns: dict[str, Pattern] = {p.name: p for p in Pattern.objects.all()}
    users = get_user_model()
    for row in tqdm(data.get("patterns", []), desc="patterns", disable=not progress):
        values = {name: row[name] for name in PATTERN_FIELDS if name in row}
        pattern = patterns.get(row["name"])
        if pattern is None:
            pattern = Pattern.objects.create(name=row["name"], **values)
            patterns[pattern.name] = pattern
            stats["patterns"] += 1
        elif _set_fields(pattern, values):
            pattern.save()
            stats["patterns"] += 1
        wanted_problems = {problems[fp].pk for fp in row.get("problems", [])}
        if set(pattern.problems.values_list("pk", flat=True)) != wanted_problems:
            pattern.problems.set(wanted_problems)
        wanted_solutions = {solutions[(fp, title)].pk for fp, title in row.get("solutions", [])}
        if set(pattern.solutions.values_list("pk", flat=True)) != wanted_solutions:
            pattern.solutions.set(wanted_solutions)
        have = set(pattern.versions.values_list("version", flat=True))
        for version in row.get("versions", []):
            if version["version"] in have:
                continue
            author = version.get("created_by")
            PatternVersion.objects.create(
                pattern=pattern,
                version=version["version"],
                snapshot=version["snapshot"],
                created_at=_parse_time(version.get("created_at")) or timezone.now(),
                created_by=users.objects.filter(**{users.USERNAME_FIELD: author}).first()
                if author
                else None,
                reason=version.get("reason", ""),
            )
            stats["versions"] += 1

    def node(ref: dict[str, Any]) -> Node:
        kind, key = ref["kind"], ref["key"]
        if kind == NodeKind.PROBLEM:
            return problems[key].node
        if kind == NodeKind.SOLUTION:
            return solutions[tuple(key)].node
        if kind == NodeKind.PATTERN:
            return patterns[key].node
        raise BackupFormatError(f"unknown node kind {kind!r}")

    for row in tqdm(data.get("edges", []), desc="edges", disable=not progress):
        (sk, si), (tk, ti) = node(row["source"]), node(row["target"])
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
            stats["edges"] += 1
        elif _set_fields(edge, values):
            edge.save()
            stats["edges"] += 1

    occurrence_rows = data.get("occurrences", [])
    for row in tqdm(occurrence_rows, desc="occurrences", disable=not progress):
        at = _parse_time(row["at"])
        problem = problems[row["problem"]]
        existing = Occurrence.objects.filter(
            problem=problem, at=at, service=row.get("service", ""), instance=row.get("instance", "")
        ).first()
        values = {
            "count": row["count"],
            "event_ids": row.get("event_ids", []),
            "last_at": _parse_time(row.get("last_at")) or at,
        }
        if existing is None:
            Occurrence.objects.create(
                problem=problem,
                at=at,
                service=row.get("service", ""),
                instance=row.get("instance", ""),
                **values,
            )
            stats["occurrences"] += 1
        elif _set_fields(existing, values):
            existing.save()
            stats["occurrences"] += 1
    return stats
