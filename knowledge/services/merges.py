"""Merging problems: the one way two problems become one, whoever asks.

Curators (the admin's merge action), the alias sweep and the sighting path all call
:func:`merge_problems`. It is safe beside any of them running at once: every row it changes
hangs off the canonical problems involved, and those are locked in id order (as every locker
of several problems does, see :func:`lock_canonical`), so two merges in opposite directions
wait for each other instead of deadlocking, and the second one sees what the first did.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from django.db import transaction
from django.db.models import Q

from knowledge.models import Edge, Node, Occurrence, Problem, ProblemStatus, Solution
from knowledge.services.announce import announce_problem
from knowledge.services.occurrences import upsert_occurrence
from knowledge.services.problems import embed_problems

# Each retry means another merge of these very problems committed meanwhile, which can only
# happen a few times before they are all one problem.
_ATTEMPTS = 10
# merge_problems flattens chains, so one hop is the rule; more only guards old data.
_MAX_HOPS = 8


class MergeConflict(RuntimeError):
    """The problems kept being merged by others while we tried; nothing was changed."""


class MergeResult(NamedTuple):
    """What a merge did. ``merged``: the canonical problems folded into ``keep`` now;
    ``redirected``: requested problems that had been merged away before, and the canonical
    problem each stood for (so the caller can say what was followed)."""

    keep: Problem
    merged: list[int]
    redirected: dict[int, int]


def _pk(problem: Problem | int) -> int:
    return problem if isinstance(problem, int) else problem.pk


def canonical_ids(ids: Iterable[int]) -> dict[int, int]:
    """Each problem id mapped to the problem it now counts into (itself when canonical).
    Unlocked: a merge may commit right after, which :func:`lock_canonical` notices."""
    resolved = {pk: pk for pk in ids}
    for _ in range(_MAX_HOPS):
        rows = dict(
            Problem.objects.filter(pk__in=set(resolved.values())).values_list(
                "pk", "merged_into_id"
            )
        )
        missing = set(resolved.values()) - rows.keys()
        if missing:
            raise Problem.DoesNotExist(f"no problem with id {sorted(missing)}")
        moved = {pk: rows[to] for pk, to in resolved.items() if rows[to] is not None}
        if not moved:
            break
        resolved.update(moved)
    return resolved


def lock_canonical(ids: Iterable[int]) -> dict[int, Problem] | None:
    """Lock the problems in id order, provided each is still canonical; ``None`` (holding no
    lock) when one was merged away meanwhile. Must run inside a transaction.

    One row at a time, checked as soon as it is locked: a row that a merge turned into a
    tombstone while we waited for it stays locked by us until the savepoint is rolled back,
    and waiting for the next row while holding it deadlocks against the merge that now
    re-points that tombstone. So we only ever wait while holding rows known canonical.
    """
    locked: dict[int, Problem] = {}
    try:
        with transaction.atomic():
            for pk in sorted(set(ids)):
                problem = Problem.objects.select_for_update().filter(pk=pk).first()
                if problem is None or problem.merged_into_id is not None:
                    raise _Moved
                locked[pk] = problem
    except _Moved:
        return None
    return locked


class _Moved(Exception):
    """A row stopped being canonical while we waited for it (rolls the savepoint back)."""


def _repoint_edges(old: Node, new: Node) -> None:
    """Move every edge of ``old`` to ``new``, folding into existing edges (evidence summed,
    weights averaged) and dropping the self-loops the move would create."""
    touching = Edge.objects.select_for_update().filter(
        Q(source_kind=old[0], source_id=old[1]) | Q(target_kind=old[0], target_id=old[1])
    )
    for edge in touching:
        source = new if edge.source == old else edge.source
        target = new if edge.target == old else edge.target
        if source == target:
            edge.delete()
            continue
        existing = Edge.objects.filter(
            source_kind=source[0],
            source_id=source[1],
            target_kind=target[0],
            target_id=target[1],
            relation=edge.relation,
        ).first()
        if existing is None:
            edge.source_kind, edge.source_id = source
            edge.target_kind, edge.target_id = target
            edge.save()
            continue
        existing.weight = Edge.reinforced_weight(
            existing.weight, existing.evidence_count, edge.weight, edge.evidence_count
        )
        existing.evidence_count += edge.evidence_count
        existing.save(update_fields=["weight", "evidence_count", "updated_at"])
        edge.delete()


def _move_solution(solution: Solution, keep: Problem) -> None:
    twin = Solution.objects.filter(problem=keep, title=solution.title).first()
    if twin is None:
        solution.problem = keep
        solution.save(update_fields=["problem", "updated_at"])
        return
    twin.successes += solution.successes
    twin.failures += solution.failures
    twin.save()
    for pattern in solution.patterns.all():
        pattern.solutions.add(twin)
    _repoint_edges(solution.node, twin.node)
    solution.delete()


def _fold(keep: Problem, dup: Problem) -> None:
    """Move everything of ``dup`` (locked, canonical) into ``keep`` and leave a tombstone."""
    for occ in Occurrence.objects.filter(problem=dup):
        upsert_occurrence(
            keep.pk,
            at=occ.at,
            service=occ.service,
            instance=occ.instance,
            count=occ.count,
            event_ids=occ.event_ids,
        )
    Occurrence.objects.filter(problem=dup).delete()
    for solution in list(Solution.objects.filter(problem=dup)):
        _move_solution(solution, keep)
    _repoint_edges(dup.node, keep.node)
    for pattern in dup.patterns.all():
        pattern.problems.add(keep)
    dup.patterns.clear()
    # Tombstones of dup are only ever written by whoever holds dup's lock: we do.
    Problem.objects.filter(merged_into=dup).update(merged_into=keep)

    keep.occurrence_count += dup.occurrence_count
    keep.first_seen = min(keep.first_seen, dup.first_seen)
    keep.last_seen = max(keep.last_seen, dup.last_seen)
    keep.services = [*keep.services, *(s for s in dup.services if s not in keep.services)]
    keep.error_patterns = [
        *keep.error_patterns,
        *(e for e in dup.error_patterns if e not in keep.error_patterns),
    ]
    dup.merged_into = keep
    dup.status = ProblemStatus.IGNORED
    dup.occurrence_count = 0
    dup.save(update_fields=["merged_into", "status", "occurrence_count", "updated_at"])


@transaction.atomic
def merge_problems(keep: Problem | int, duplicates: Iterable[Problem | int]) -> MergeResult:
    """Fold duplicate problems into ``keep`` in one transaction.

    Every problem named is first resolved to the canonical problem it counts into: a ``keep``
    that was merged away is followed to where it went (a tombstone is never revived), a
    duplicate already merged into ``keep`` is left alone, and a duplicate merged elsewhere
    stands for that problem. The canonical problems are then locked in id order and checked
    still canonical; if a concurrent merge moved one, everything is resolved again. So each
    problem's counts and occurrences move exactly once, whatever runs beside it.

    Occurrences (bucket counts added), solutions (same-titled ones combined, outcome counts
    summed), edges and pattern links move to ``keep``; occurrence counts are summed, first/
    last seen widened, services and error patterns united. Duplicates stay as tombstones
    (``merged_into`` = keep, status ignored, count 0) so their fingerprint keeps routing
    sightings to ``keep``; problems merged into a duplicate earlier now point at ``keep``.
    Raises :class:`MergeConflict` when the rows kept moving (nothing is changed then).
    """
    keep_id = _pk(keep)
    requested = {keep_id, *(_pk(p) for p in duplicates)}
    for _attempt in range(_ATTEMPTS):
        resolved = canonical_ids(requested)
        locked = lock_canonical(resolved.values())
        if locked is not None:
            break
    else:
        raise MergeConflict(f"problems {sorted(requested)} kept being merged by others")
    target = locked[resolved[keep_id]]
    merged = sorted(set(locked) - {target.pk})
    for dup_id in merged:
        _fold(target, locked[dup_id])
    redirected = {pk: to for pk, to in resolved.items() if pk != to}
    if merged:
        target.save()
        embed_problems([target])  # its error patterns grew
        announce_problem(target, merged=merged)
    return MergeResult(target, merged, redirected)
