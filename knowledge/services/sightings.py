"""Sightings: the hot path that counts every error an agent sees into its problem.

:func:`record_sighting` is called for every error, possibly thousands a second from many
workers. It costs one indexed SELECT, one UPDATE and one upsert of the minute bucket; the
embedding is computed only the first time a fingerprint is seen, and the insert of a new
problem is an ``INSERT ... ON CONFLICT DO NOTHING`` so two workers sighting a new
fingerprint at once create exactly one problem.

The fingerprinter generalises a fingerprint's template after the fact (a word slot turns out
to hold user names), so the problem, titled at first sight, may read more specifically than
what it now covers. The counting UPDATE also compares the stored template with the one the
sighting carries and returns the stored one only when they differ: the common case costs no
extra round trip, and the rare generalisation is followed then (``follow_template``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from knowledge import embeddings
from knowledge.fingerprint import FingerprintResult, fingerprint_message, get_fingerprinter
from knowledge.grouping import exception_grouping, exception_text, strip_data
from knowledge.models import (
    Category,
    CountedEvent,
    Problem,
    ProblemStatus,
    Severity,
    embedding_text,
)
from knowledge.services.aliases import follow_alias, sweep_after_commit
from knowledge.services.announce import TITLE_LENGTH, announce_problem
from knowledge.services.occurrences import upsert_occurrence
from knowledge.services.problems import follow_template

# --- Sightings ----------------------------------------------------------------------------------

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
FROM (SELECT id, status FROM knowledge_problem
      WHERE id = %(id)s AND merged_into_id IS NULL FOR UPDATE) AS before
WHERE p.id = before.id
RETURNING before.status,
          CASE WHEN %(template)s = '' OR p.log_template = %(template)s THEN NULL
               ELSE p.log_template END
"""
# No row: the problem was merged away while we waited for its lock (by an alias sweep or
# another sighting); the condition is re-checked on the row as it is after the wait.
_ATTEMPTS = 5


class _MergedAway(Exception):
    """The sighting's problem was merged away while it waited for the row: start over.

    Postgres keeps the row lock even when the re-check fails, and merges lock their problems
    in id order (``knowledge.services.merges``), so looking the problem up again in the same
    transaction (holding the tombstone, waiting for a kept problem with a lower id) could
    deadlock with a concurrent merge."""


def _vector_literal(vector: Sequence[float]) -> str:
    return "[" + ",".join(f"{x:.7g}" for x in vector) + "]"


def _find_problem(cursor: Any, result: FingerprintResult) -> int | None:
    """The canonical problem of a sighting, following merges and fingerprint aliases.

    When the fingerprinter generalised a template, the sighting's own (older) fingerprint may
    have a problem of its own: the graph follows the alias ``own -> fingerprint`` (see
    ``knowledge.services.aliases.follow_alias``: merge or tombstone).
    """
    problem_id, _ = follow_alias(cursor, result.fingerprint, result.own, result.template)
    return problem_id


def _count_into(cursor: Any, problem_id: int, **update: Any) -> tuple[bool, bool]:
    """Count the sighting into its problem; returns whether that reopened it, and whether
    its stored template differs from the sighting's ``template``."""
    cursor.execute(_UPDATE_PROBLEM, {**update, "id": problem_id})
    before = cursor.fetchone()
    if before is None:
        raise _MergedAway(problem_id)
    return before[0] == ProblemStatus.RESOLVED, before[1] is not None


def _current_template(result: FingerprintResult) -> str:
    """The template the sighting's fingerprint stands for now, already at hand: the result's
    own when its key is the fingerprint, else this process's copy of the shared state (a
    dict lookup). Empty for an exception's grouping: its title is no template."""
    if result.cluster_id < 0:
        return ""
    if result.own in ("", result.fingerprint):
        return result.template
    return get_fingerprinter().template_of(result.fingerprint)


_COUNT_NEW_EVENTS = """
INSERT INTO knowledge_countedevent (event_id, counted_at)
SELECT unnest(%s::varchar[]), %s
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id
"""


def _count_new_events(cursor: Any, event_ids: Sequence[str], at: datetime) -> int:
    """How many of the events were never counted; marks them counted (same transaction, so
    a rolled-back sighting leaves them uncounted). A concurrent insert of the same id waits
    for the other transaction and then counts nothing."""
    cursor.execute(_COUNT_NEW_EVENTS, [list(dict.fromkeys(event_ids)), at])
    return len(cursor.fetchall())


def prune_counted_events(older_than: datetime) -> int:
    """Forget counted events past the redelivery horizon; returns how many rows went."""
    deleted, _ = CountedEvent.objects.filter(counted_at__lt=older_than).delete()
    return deleted


def _grouping(
    message: str, exception: Mapping[str, Any] | None, service: str
) -> tuple[FingerprintResult, str]:
    """The sighting's fingerprint (see ``knowledge.grouping``) and its example message."""
    if exception and exception.get("type"):
        example = f"{message}\n{exception_text(exception)}"[:1000]
        by_exception = exception_grouping(exception)
        if by_exception is not None:
            return by_exception, example
        return fingerprint_message(strip_data(exception_text(exception)), service=service), example
    return fingerprint_message(strip_data(message), service=service), message


def record_sighting(
    message: str,
    *,
    service: str = "",
    instance: str = "",
    event_ids: Sequence[str] = (),
    at: datetime | None = None,
    category: str | None = None,
    severity: str | None = None,
    count: int | None = None,
    exception: Mapping[str, Any] | None = None,
) -> Problem:
    """Count sightings of the error ``message``; returns its (canonical) problem.

    Without ``count``, each of ``event_ids`` counts once, ever: an event delivered again
    (after a worker died before acknowledging it) adds nothing. With ``count`` the caller
    vouches for it (the monitor counts an anomaly once by its own row); no ids count as one.

    With ``exception`` (a structured exception, as the SDK sends it) the problem is the
    exception's type and in-app frames; without it, the message with its data stripped
    (see ``knowledge.grouping``).

    The problem is created on first sight (title from the log template, embedding from the
    default provider) and otherwise updated in place; sightings of a merged duplicate count
    for the problem it was merged into. ``problem.created`` is published for a new problem;
    ``problem.updated`` when a sighting opens a new minute bucket or reopens a resolved
    problem, which bounds events to one per problem, service instance and minute.
    A problem merged away while the sighting waited for its row starts the sighting over in
    a fresh transaction, which then counts into the problem that was kept.
    """
    at = at or timezone.now()
    result, example = _grouping(message, exception, service)
    for _attempt in range(_ATTEMPTS):
        try:
            problem = _record(
                result,
                example,
                service=service,
                instance=instance,
                event_ids=event_ids,
                at=at,
                category=category,
                severity=severity,
                count=count,
            )
        except _MergedAway:
            continue
        sweep_after_commit()  # when fingerprinting just merged templates, follow them soon
        return problem
    raise RuntimeError(f"the problem of {result.fingerprint} kept being merged away")


@transaction.atomic
def _record(
    result: FingerprintResult,
    message: str,
    *,
    service: str,
    instance: str,
    event_ids: Sequence[str],
    at: datetime,
    category: str | None,
    severity: str | None,
    count: int | None,
) -> Problem:
    created = reopened = stale = False
    template = _current_template(result)
    with connection.cursor() as cursor:
        if count is None:
            count = _count_new_events(cursor, event_ids, at) if event_ids else 1
            if count == 0:  # every event was counted before: a redelivery
                known = _find_problem(cursor, result)
                if known is not None:
                    return Problem.objects.get(pk=known)
        problem_id = _find_problem(cursor, result)
        if problem_id is None:
            first = result.template or message
            cursor.execute(
                _INSERT_PROBLEM,
                [
                    result.fingerprint,
                    first[:TITLE_LENGTH],
                    category or Category.OTHER,
                    severity or Severity.ERROR,
                    [service] if service else [],
                    json.dumps([message[:1000]]),  # the first sighting, as an example
                    first,
                    _vector_literal(
                        embeddings.embed_text(
                            embedding_text(first[:TITLE_LENGTH], "", first, [message[:1000]])
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
            reopened, stale = _count_into(
                cursor, problem_id, count=count, at=at, service=service, template=template
            )
    new_bucket = upsert_occurrence(
        problem_id, at=at, service=service, instance=instance, count=count, event_ids=event_ids
    )
    problem = Problem.objects.get(pk=problem_id)
    # The row is locked by the count above, so the stored template is the one compared there.
    changed = follow_template(problem, template, announce=False) if stale else []
    if created:
        announce_problem(problem, created=True, service=service, instance=instance)
    elif new_bucket or reopened or changed:
        announce_problem(
            problem, service=service, instance=instance, reopened=reopened, changed=changed
        )
    return problem
