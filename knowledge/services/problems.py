"""Problems: created, edited by curators, re-embedded, resolved and merged."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import transaction
from django.db.models import Q

from knowledge import embeddings
from knowledge.models import (
    Category,
    Edge,
    Node,
    Occurrence,
    Problem,
    ProblemStatus,
    Severity,
    Solution,
)
from knowledge.services.announce import TITLE_LENGTH, announce_problem
from knowledge.services.occurrences import upsert_occurrence

# --- Problems -----------------------------------------------------------------------------------


@transaction.atomic
def ensure_problem(
    *,
    fingerprint: str,
    title: str,
    description: str = "",
    category: str = Category.OTHER,
    severity: str = Severity.ERROR,
    signal: str = "",
    services: Sequence[str] = (),
    error_patterns: Sequence[str] = (),
    log_template: str = "",
) -> tuple[Problem, bool]:
    """The problem with this fingerprint, created (and embedded) when missing; returns
    ``(problem, created)``. An existing problem is left as it is: curators own it now."""
    problem, created = Problem.objects.get_or_create(
        fingerprint=fingerprint,
        defaults={
            "title": title[:TITLE_LENGTH],
            "description": description,
            "category": category,
            "severity": severity,
            "signal": signal,
            "services": list(services),
            "error_patterns": list(error_patterns),
            "log_template": log_template,
            "occurrence_count": 0,
        },
    )
    if created:
        problem_edited(problem, [], created=True)
    return problem, created


EMBEDDED_FIELDS = frozenset({"title", "description", "log_template", "error_patterns"})


def problem_edited(problem: Problem, changed: Sequence[str], *, created: bool = False) -> None:
    """After a curator saved a problem: re-embed when the text its vector is computed from
    changed (similarity must follow the edit), and tell the mesh."""
    if created or EMBEDDED_FIELDS & set(changed):
        embed_problems([problem])
    if created:
        announce_problem(problem, created=True)
    elif changed:
        announce_problem(problem, changed=list(changed))


def embed_problems(problems: Iterable[Problem], *, batch_size: int = 256) -> int:
    """(Re)compute and store the embeddings of problems, in batches; returns how many."""
    provider = embeddings.get_provider()
    done = 0
    batch: list[Problem] = []
    for problem in problems:
        batch.append(problem)
        if len(batch) >= batch_size:
            done += _embed_batch(batch, provider)
            batch = []
    if batch:
        done += _embed_batch(batch, provider)
    return done


def _embed_batch(batch: list[Problem], provider: embeddings.EmbeddingProvider) -> int:
    vectors = provider.embed([p.embedding_text() for p in batch])
    for problem, vector in zip(batch, vectors, strict=True):
        problem.embedding = vector
        problem.embedding_provider = provider.name
    Problem.objects.bulk_update(batch, ["embedding", "embedding_provider"])
    return len(batch)


@transaction.atomic
def set_problem_status(problems: Iterable[Problem], status: str) -> int:
    """Set the status of problems (admin actions); one ``problem.updated`` per change."""
    changed = 0
    for problem in problems:
        if problem.status == status:
            continue
        problem.status = status
        problem.save(update_fields=["status", "updated_at"])
        announce_problem(problem, changed=["status"])
        changed += 1
    return changed


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


@transaction.atomic
def merge_problems(keep: Problem, duplicates: Iterable[Problem]) -> Problem:
    """Fold duplicate problems into ``keep`` in one transaction.

    Occurrences (bucket counts added), solutions (same-titled ones combined, outcome counts
    summed), edges and pattern links move to ``keep``; occurrence counts are summed, first/
    last seen widened, services and error patterns united. Duplicates stay as tombstones
    (``merged_into`` = keep, status ignored, count 0) so their fingerprint keeps routing
    sightings to ``keep``; problems merged into a duplicate earlier now point at ``keep``.
    """
    duplicate_ids = sorted({p.pk for p in duplicates} - {keep.pk})
    locked = {
        p.pk: p
        for p in Problem.objects.select_for_update().filter(pk__in=[keep.pk, *duplicate_ids])
    }
    keep = locked[keep.pk]
    for dup_id in duplicate_ids:
        dup = locked[dup_id]
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
    keep.merged_into = None
    keep.save()
    embed_problems([keep])  # its error patterns grew
    announce_problem(keep, merged=duplicate_ids)
    return keep
