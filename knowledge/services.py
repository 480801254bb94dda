"""The one way to change the knowledge graph.

Every function here changes rows in one transaction and, when a problem appears or changes,
publishes ``problem.created`` / ``problem.updated`` on the event mesh *after commit*, so no
consumer ever reads an event about a row it cannot see (or that was rolled back).

Hot path: :func:`record_sighting` is called for every error an agent sees, possibly thousands
a second from many workers. It costs one indexed SELECT, one UPDATE and one upsert of the
minute bucket; the embedding is computed only the first time a fingerprint is seen, and the
insert of a new problem is an ``INSERT ... ON CONFLICT DO NOTHING`` so two workers sighting a
new fingerprint at once create exactly one problem.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from agents.events import Event
from agents.mesh import publish
from knowledge import embeddings
from knowledge.fingerprint import FingerprintResult, fingerprint_message
from knowledge.models import (
    NODE_MODELS,
    OCCURRENCE_EVENT_IDS_CAP,
    Category,
    Edge,
    Node,
    NodeMixin,
    Occurrence,
    Pattern,
    PatternVersion,
    Problem,
    ProblemStatus,
    Relation,
    Severity,
    Solution,
    SolutionSource,
    embedding_text,
)

logger = logging.getLogger(__name__)

EVENT_SOURCE = "knowledge"
TITLE_LENGTH = 300


# --- Events -------------------------------------------------------------------------------------


def _problem_payload(problem: Problem, **extra: Any) -> dict[str, Any]:
    return {
        "problem_id": problem.pk,
        "fingerprint": problem.fingerprint,
        "title": problem.title,
        "category": problem.category,
        "severity": problem.severity,
        "status": problem.status,
        "signal": problem.signal,
        "occurrence_count": problem.occurrence_count,
        **extra,
    }


def _publish_safely(event: Event) -> None:
    # Runs after commit: the row is stored whatever happens to Redis, so a mesh outage is
    # logged rather than turned into an error for a caller whose work already succeeded.
    try:
        publish(event)
    except Exception:
        logger.exception("could not publish %s", event.type)


def _emit_on_commit(event_type: str, problem: Problem, **extra: Any) -> None:
    event = Event(
        type=event_type,
        source=EVENT_SOURCE,
        severity="info",
        payload=_problem_payload(problem, **extra),
    )
    transaction.on_commit(lambda: _publish_safely(event))


# --- Sightings ----------------------------------------------------------------------------------

_FIND_PROBLEMS = """
SELECT fingerprint, id, merged_into_id FROM knowledge_problem WHERE fingerprint = ANY(%s)
"""

_INSERT_TOMBSTONE = """
INSERT INTO knowledge_problem (
    fingerprint, title, description, category, severity, signal, services, error_patterns,
    log_template, embedding_provider, occurrence_count, first_seen, last_seen, status,
    merged_into_id, created_at, updated_at
) VALUES (%s, %s, '', 'other', 'error', '', '{}', '[]', '', '', 0, now(), now(), 'ignored',
          %s, clock_timestamp(), clock_timestamp())
ON CONFLICT (fingerprint) DO NOTHING
"""

_INSERT_PROBLEM = """
INSERT INTO knowledge_problem (
    fingerprint, title, description, category, severity, signal, services, error_patterns,
    log_template, embedding, embedding_provider, occurrence_count, first_seen, last_seen,
    status, created_at, updated_at
) VALUES (%s, %s, '', %s, %s, '', %s, %s, %s, %s::vector, %s, %s, %s, %s, 'open',
          clock_timestamp(), clock_timestamp())
ON CONFLICT (fingerprint) DO NOTHING
RETURNING id
"""

# A resolved problem seen again has regressed, so it reopens; ignored and mitigated stay.
# RETURNING gives the status from before the update (the locked row read in FROM).
_UPDATE_PROBLEM = """
UPDATE knowledge_problem AS p SET
    occurrence_count = p.occurrence_count + %(count)s,
    first_seen = LEAST(p.first_seen, %(at)s),
    last_seen = GREATEST(p.last_seen, %(at)s),
    services = CASE WHEN %(service)s = '' OR %(service)s = ANY(p.services) THEN p.services
                    ELSE array_append(p.services, %(service)s::varchar) END,
    status = CASE WHEN p.status = 'resolved' THEN 'open' ELSE p.status END,
    updated_at = now()
FROM (SELECT id, status FROM knowledge_problem WHERE id = %(id)s FOR UPDATE) AS before
WHERE p.id = before.id
RETURNING before.status
"""

_UPSERT_OCCURRENCE = """
INSERT INTO knowledge_occurrence (problem_id, at, service, instance, count, event_ids, last_at)
VALUES (%(problem)s, %(bucket)s, %(service)s, %(instance)s, %(count)s, %(event_ids)s::jsonb,
        %(at)s)
ON CONFLICT (problem_id, at, service, instance) DO UPDATE SET
    count = knowledge_occurrence.count + EXCLUDED.count,
    last_at = GREATEST(knowledge_occurrence.last_at, EXCLUDED.last_at),
    event_ids = CASE
        WHEN jsonb_array_length(knowledge_occurrence.event_ids) >= %(cap)s
            THEN knowledge_occurrence.event_ids
        ELSE (SELECT COALESCE(jsonb_agg(e ORDER BY i), '[]'::jsonb)
                FROM jsonb_array_elements(knowledge_occurrence.event_ids || EXCLUDED.event_ids)
                     WITH ORDINALITY AS t(e, i)
               WHERE i <= %(cap)s)
    END
RETURNING (xmax = 0)
"""


def _vector_literal(vector: Sequence[float]) -> str:
    return "[" + ",".join(f"{x:.7g}" for x in vector) + "]"


def _upsert_occurrence(
    problem_id: int,
    *,
    at: datetime,
    service: str,
    instance: str,
    count: int,
    event_ids: Sequence[str],
) -> bool:
    """Add ``count`` sightings to the minute bucket; True when the bucket row is new."""
    with connection.cursor() as cursor:
        cursor.execute(
            _UPSERT_OCCURRENCE,
            {
                "problem": problem_id,
                "bucket": Occurrence.bucket(at),
                "service": service,
                "instance": instance,
                "count": count,
                "event_ids": json.dumps(list(event_ids)[:OCCURRENCE_EVENT_IDS_CAP]),
                "at": at,
                "cap": OCCURRENCE_EVENT_IDS_CAP,
            },
        )
        return bool(cursor.fetchone()[0])


def _canonical_id(problem_id: int, merged_into_id: int | None) -> int:
    # merge_problems flattens chains, so one hop reaches the problem that is kept.
    return merged_into_id or problem_id


def _find_problem(cursor: Any, result: FingerprintResult) -> int | None:
    """The canonical problem of a sighting, following merges and fingerprint aliases.

    When the fingerprinter generalised a template, the sighting's own (older) fingerprint may
    have a problem while the resolved one has none: the resolved fingerprint is then stored
    as a tombstone merged into that problem, so every later sighting lands there too. When
    both have problems, the fingerprinter merged two kinds and the graph follows: the newer
    problem is merged into the older one.
    """
    fingerprints = [result.fingerprint]
    if result.own and result.own != result.fingerprint:
        fingerprints.append(result.own)
    cursor.execute(_FIND_PROBLEMS, [fingerprints])
    found = {fp: _canonical_id(pk, merged) for fp, pk, merged in cursor.fetchall()}
    resolved, own = found.get(result.fingerprint), found.get(result.own)
    if resolved is not None and own is not None and resolved != own:
        keep, duplicate = sorted((resolved, own))
        merge_problems(Problem.objects.get(pk=keep), [Problem.objects.get(pk=duplicate)])
        return keep
    if resolved is None and own is not None:
        cursor.execute(_INSERT_TOMBSTONE, [result.fingerprint, result.template[:TITLE_LENGTH], own])
        return own
    return resolved


@transaction.atomic
def record_sighting(
    message: str,
    *,
    service: str = "",
    instance: str = "",
    event_ids: Sequence[str] = (),
    at: datetime | None = None,
    category: str | None = None,
    severity: str | None = None,
    count: int = 1,
) -> Problem:
    """Count ``count`` sightings of the error ``message``; returns its (canonical) problem.

    The problem is created on first sight (title from the log template, embedding from the
    default provider) and otherwise updated in place; sightings of a merged duplicate count
    for the problem it was merged into. ``problem.created`` is published for a new problem;
    ``problem.updated`` when a sighting opens a new minute bucket or reopens a resolved
    problem, which bounds events to one per problem, service instance and minute.
    """
    at = at or timezone.now()
    result = fingerprint_message(message, service=service)
    created = reopened = False
    with connection.cursor() as cursor:
        problem_id = _find_problem(cursor, result)
        if problem_id is None:
            template = result.template or message
            cursor.execute(
                _INSERT_PROBLEM,
                [
                    result.fingerprint,
                    template[:TITLE_LENGTH],
                    category or Category.OTHER,
                    severity or Severity.ERROR,
                    [service] if service else [],
                    json.dumps([message[:1000]]),  # the first sighting, as an example
                    template,
                    _vector_literal(
                        embeddings.embed_text(
                            embedding_text(template[:TITLE_LENGTH], "", template, [message[:1000]])
                        )
                    ),
                    embeddings.get_provider().name,
                    count,
                    at,
                    at,
                ],
            )
            inserted = cursor.fetchone()
            if inserted is not None:
                created, problem_id = True, inserted[0]
            else:  # another worker inserted it first; READ COMMITTED sees it now
                problem_id = _find_problem(cursor, result)
        if not created:
            cursor.execute(
                _UPDATE_PROBLEM, {"count": count, "at": at, "service": service, "id": problem_id}
            )
            reopened = cursor.fetchone()[0] == ProblemStatus.RESOLVED
    new_bucket = _upsert_occurrence(
        problem_id, at=at, service=service, instance=instance, count=count, event_ids=event_ids
    )
    problem = Problem.objects.get(pk=problem_id)
    if created:
        _emit_on_commit("problem.created", problem, service=service, instance=instance)
    elif new_bucket or reopened:
        _emit_on_commit(
            "problem.updated", problem, service=service, instance=instance, reopened=reopened
        )
    return problem


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
        _emit_on_commit("problem.created", problem)
    elif changed:
        _emit_on_commit("problem.updated", problem, changed=list(changed))


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
        _emit_on_commit("problem.updated", problem, changed=["status"])
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
            _upsert_occurrence(
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
    _emit_on_commit("problem.updated", keep, merged=duplicate_ids)
    return keep


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


# --- Edges --------------------------------------------------------------------------------------

_UPSERT_EDGE = """
INSERT INTO knowledge_edge (source_kind, source_id, relation, target_kind, target_id, weight,
                            evidence_count, created_at, updated_at)
VALUES (%(sk)s, %(si)s, %(rel)s, %(tk)s, %(ti)s, %(weight)s, %(evidence)s,
        clock_timestamp(), clock_timestamp())
ON CONFLICT (source_kind, source_id, target_kind, target_id, relation) DO UPDATE SET
    weight = (knowledge_edge.weight * knowledge_edge.evidence_count
              + EXCLUDED.weight * EXCLUDED.evidence_count)
             / (knowledge_edge.evidence_count + EXCLUDED.evidence_count),
    evidence_count = knowledge_edge.evidence_count + EXCLUDED.evidence_count,
    updated_at = now()
RETURNING id
"""


def as_node(node: NodeMixin | Node) -> Node:
    if isinstance(node, tuple):
        kind, pk = node
        if kind not in NODE_MODELS:
            raise ValueError(f"unknown node kind {kind!r}")
        return (str(kind), int(pk))
    return node.node


def link(
    source: NodeMixin | Node,
    relation: str,
    target: NodeMixin | Node,
    *,
    weight: float = 1.0,
    evidence: int = 1,
) -> Edge:
    """Create the edge, or reinforce it: evidence added, weight averaged (one upsert, so
    concurrent reinforcements all count)."""
    if relation not in Relation.values:
        raise ValueError(f"unknown relation {relation!r}")
    (sk, si), (tk, ti) = as_node(source), as_node(target)
    if (sk, si) == (tk, ti):
        raise ValueError("an edge needs two different nodes")
    with connection.cursor() as cursor:
        cursor.execute(
            _UPSERT_EDGE,
            {
                "sk": sk,
                "si": si,
                "rel": relation,
                "tk": tk,
                "ti": ti,
                "weight": weight,
                "evidence": evidence,
            },
        )
        edge_id = cursor.fetchone()[0]
    return Edge.objects.get(pk=edge_id)


def ensure_edge(
    source: NodeMixin | Node, relation: str, target: NodeMixin | Node, *, weight: float = 1.0
) -> tuple[Edge, bool]:
    """The edge, created when missing but never reinforced: for curated and seeded
    knowledge, where running the same load twice is not new evidence."""
    if relation not in Relation.values:
        raise ValueError(f"unknown relation {relation!r}")
    (sk, si), (tk, ti) = as_node(source), as_node(target)
    return Edge.objects.get_or_create(
        source_kind=sk,
        source_id=si,
        target_kind=tk,
        target_id=ti,
        relation=relation,
        defaults={"weight": weight, "evidence_count": 1},
    )


# --- Patterns -----------------------------------------------------------------------------------


@transaction.atomic
def save_pattern_version(
    pattern: Pattern, user: AbstractBaseUser | None = None, reason: str = ""
) -> PatternVersion:
    """Record the pattern's current content as its next version (append-only)."""
    locked = Pattern.objects.select_for_update().get(pk=pattern.pk)
    last = locked.versions.order_by("-version").values_list("version", flat=True).first() or 0
    version = PatternVersion.objects.create(
        pattern=locked,
        version=last + 1,
        snapshot=locked.snapshot(),
        created_by=user if user is not None and user.is_authenticated else None,
        reason=reason[:300],
    )
    Pattern.objects.filter(pk=locked.pk).update(version=version.version)
    pattern.version = version.version
    return version


@transaction.atomic
def rollback_pattern(
    pattern: Pattern, version: int, user: AbstractBaseUser | None = None
) -> PatternVersion:
    """Restore the content of ``version`` as a new version; history is never rewritten."""
    old = PatternVersion.objects.get(pattern=pattern, version=version)
    locked = Pattern.objects.select_for_update().get(pk=pattern.pk)
    locked.apply_snapshot(old.snapshot)
    new = save_pattern_version(locked, user, f"rollback to v{version}")
    pattern.refresh_from_db()
    return new


@transaction.atomic
def set_pattern_flags(
    patterns: Iterable[Pattern],
    *,
    user: AbstractBaseUser | None = None,
    validated: bool | None = None,
    retired: bool | None = None,
) -> int:
    """Validate or retire patterns (admin actions); each change is a new version."""
    changed = 0
    for pattern in patterns:
        updates = {
            name: value
            for name, value in (("validated", validated), ("retired", retired))
            if value is not None and getattr(pattern, name) != value
        }
        if not updates:
            continue
        for name, value in updates.items():
            setattr(pattern, name, value)
        pattern.save(update_fields=[*updates, "updated_at"])
        reason = ", ".join(f"{name}={value}" for name, value in updates.items())
        save_pattern_version(pattern, user, reason)
        changed += 1
    return changed


def record_pattern_match(pattern: Pattern, confirmed: bool) -> Pattern:
    """Count a match later judged right or wrong (feeds :attr:`Pattern.accuracy`)."""
    field = "matches_confirmed" if confirmed else "matches_refuted"
    Pattern.objects.filter(pk=pattern.pk).update(**{field: F(field) + 1})
    pattern.refresh_from_db()
    return pattern
