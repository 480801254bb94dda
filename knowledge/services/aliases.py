"""Following fingerprint merges into the graph: one problem per kind of error.

The shared ``Fingerprinter`` merges templates forward-only and records each merge as an
alias ``old -> new``. :func:`follow_alias` is the one way the graph follows such a merge:
when both fingerprints have problems the newer problem is merged into the older one; when
only the old one has, the new fingerprint is stored as a tombstone merged into it, so later
sightings under either land on one problem.

Sightings follow an alias when they carry the old fingerprint as their ``own``;
:func:`sweep_aliases` follows every merge recorded since its last run (the fingerprinter's
alias log), so a problem opened under a fingerprint that is never sighted again is merged
too. It runs from beat (``agents.tasks.sweep_fingerprint_aliases``) and, after a sighting
whose fingerprinting recorded a merge, right after that sighting commits. The problem kept
then takes the merged fingerprint's (more general) template, and its title while that is
automatic (``services.follow_template``).
"""

from __future__ import annotations

import logging
from typing import Any, NamedTuple

from django.db import connection, transaction
from prometheus_client import Counter

from knowledge.fingerprint import Fingerprinter, get_fingerprinter
from knowledge.fingerprint_state import MAX_ALIAS_HOPS
from knowledge.models import Problem
from knowledge.services.announce import TITLE_LENGTH
from knowledge.services.incidents import follow_problem_title
from knowledge.services.merges import MergeConflict, lock_canonical, merge_problems
from knowledge.services.problems import follow_template

logger = logging.getLogger(__name__)

MERGED, TOMBSTONED = "merged", "tombstoned"
SWEEP_BATCH = 500
_ATTEMPTS = 5

ALIASES_APPLIED = Counter(
    "ai_ops_fingerprint_aliases_applied",
    "Fingerprint merges the knowledge graph followed, by what it took",
    ["outcome"],  # merged (two problems became one), tombstoned, nothing (already one)
)

_FIND_PROBLEMS = """
SELECT fingerprint, id, merged_into_id FROM knowledge_problem WHERE fingerprint = ANY(%s)
"""

# Without the new fingerprint's template (a process that never mined it) the tombstone takes
# the title of the problem it points to; nobody sees it, but it must say what it stands for.
_INSERT_TOMBSTONE = """
INSERT INTO knowledge_problem (
    fingerprint, title, description, category, severity, signal, services, error_patterns,
    log_template, embedding_provider, occurrence_count, first_seen, last_seen, status,
    merged_into_id, created_at, updated_at
) VALUES (%(fingerprint)s,
          COALESCE(NULLIF(%(title)s, ''),
                   (SELECT title FROM knowledge_problem WHERE id = %(into)s)),
          '', 'other', 'error', '', '{}', '[]', '', '', 0, now(), now(), 'ignored',
          %(into)s, clock_timestamp(), clock_timestamp())
ON CONFLICT (fingerprint) DO NOTHING
"""


def _canonical_id(problem_id: int, merged_into_id: int | None) -> int:
    # merge_problems flattens chains, so one hop reaches the problem that is kept.
    return merged_into_id or problem_id


def follow_alias(
    cursor: Any, fingerprint: str, old: str = "", template: str = ""
) -> tuple[int | None, str]:
    """The canonical problem of ``fingerprint`` once the graph follows ``old -> fingerprint``;
    and what that took (``MERGED``, ``TOMBSTONED`` or ``""``). Runs in the caller's
    transaction.

    Both have problems: the newer (higher id) is merged into the older (by
    ``merge_problems``, which locks and re-checks the rows itself). Only ``old`` has:
    ``fingerprint`` becomes a tombstone merged into it, once ``old``'s problem is locked and
    still canonical. Otherwise nothing is written, so an
    alias whose old fingerprint never had a problem leaves no trace. Idempotent, and safe
    beside concurrent sightings, merges and sweeps: rows are locked in id order and checked
    still canonical before a merge or a tombstone, and a tombstone insert that loses to a new
    problem under ``fingerprint`` looks again (and merges).
    """
    fingerprints = [fingerprint] if not old or old == fingerprint else [fingerprint, old]
    resolved = own = None
    for _attempt in range(_ATTEMPTS):
        cursor.execute(_FIND_PROBLEMS, [fingerprints])
        found = {fp: _canonical_id(pk, merged) for fp, pk, merged in cursor.fetchall()}
        resolved, own = found.get(fingerprint), found.get(old)
        if resolved is not None and own is not None and resolved != own:
            keep, duplicate = sorted((resolved, own))
            try:  # locks, re-checks and follows concurrent merges itself
                merge = merge_problems(keep, [duplicate])
            except MergeConflict:
                break
            if merge.merged and merge.keep.title_is_automatic:
                # The duplicate's open incidents still read its specific line; the kept
                # problem's title may already be the general one (the fold moved it first).
                follow_problem_title(merge.keep, merge.keep.title)
            return merge.keep.pk, MERGED if merge.merged else ""
        if resolved is None and own is not None:
            if lock_canonical((own,)) is None:
                continue
            cursor.execute(
                _INSERT_TOMBSTONE,
                {"fingerprint": fingerprint, "title": template[:TITLE_LENGTH], "into": own},
            )
            if cursor.rowcount == 1:
                return own, TOMBSTONED
            continue  # a sighting created the new fingerprint's problem meanwhile
        return resolved, ""
    logger.warning("could not follow alias %s -> %s: the rows kept moving", old, fingerprint)
    return (resolved if resolved is not None else own), ""


class AliasSweep(NamedTuple):
    """What one sweep did: aliases read, problems merged, tombstones inserted."""

    read: int = 0
    merged: int = 0
    tombstoned: int = 0

    def __add__(self, other: tuple[int, ...]) -> AliasSweep:  # type: ignore[override]
        return AliasSweep(*(a + b for a, b in zip(self, other, strict=True)))


def _resolve(aliases: dict[str, str], fingerprint: str) -> str:
    for _ in range(MAX_ALIAS_HOPS):
        target = aliases.get(fingerprint)
        if target is None or target == fingerprint:
            return fingerprint
        fingerprint = target
    return fingerprint


def _apply(fingerprinter: Fingerprinter, old: str, resolved: str) -> AliasSweep:
    template = fingerprinter.template_of(resolved)
    with transaction.atomic(), connection.cursor() as cursor:
        problem_id, outcome = follow_alias(cursor, resolved, old, template)
        if problem_id is not None and template:
            # The kept problem is the older one, titled by a more specific template (the
            # first key's, or a sibling's): it now stands for the general one.
            follow_template(Problem.objects.get(pk=problem_id), template)
    ALIASES_APPLIED.labels(outcome or "nothing").inc()
    return AliasSweep(1, outcome == MERGED, outcome == TOMBSTONED)


def sweep_aliases(fingerprinter: Fingerprinter | None = None) -> AliasSweep:
    """Follow every fingerprint merge recorded since the last sweep (see module docstring).

    Each alias is followed in its own transaction, to the fingerprint it resolves to now;
    the cursor (the last log entry followed) moves only after its transaction committed.
    A first sweep, or one whose log entries were trimmed away, goes through all aliases.
    Concurrent sweeps may follow the same alias twice, which changes nothing the second time.
    """
    fingerprinter = fingerprinter or get_fingerprinter()
    done = AliasSweep()
    after = fingerprinter.alias_cursor()
    entries, complete = fingerprinter.alias_log_since(after, count=SWEEP_BATCH)
    if entries or not complete:
        # The templates merged fingerprints stand for now, in a process (beat, a worker)
        # that may never have fingerprinted anything since the merges were logged.
        fingerprinter.refresh()
    if not complete:
        end = fingerprinter.alias_log_end()  # merges logged after this are read next time
        aliases = fingerprinter.aliases()
        for old in aliases:
            done += _apply(fingerprinter, old, _resolve(aliases, old))
        fingerprinter.set_alias_cursor(end)
        return done
    while entries:
        for entry, old, new in entries:
            done += _apply(fingerprinter, old, fingerprinter.resolve_alias(new))
            fingerprinter.set_alias_cursor(entry)
        if len(entries) < SWEEP_BATCH:
            break
        entries, _ = fingerprinter.alias_log_since(entries[-1][0], count=SWEEP_BATCH)
    return done


def follow_templates(fingerprinter: Fingerprinter | None = None) -> int:
    """Let every canonical problem follow the template its fingerprint stands for now (see
    ``services.follow_template``); returns how many changed. For problems whose template
    generalised before the graph followed templates, or that no sighting or sweep has
    touched since: run once after upgrading (``manage.py follow_templates``). One short
    transaction per problem that changes."""
    fingerprinter = fingerprinter or get_fingerprinter()
    fingerprinter.refresh()
    aliases = fingerprinter.aliases()
    changed = 0
    for problem in Problem.objects.canonical().exclude(log_template="").order_by("pk"):
        template = fingerprinter.template_of(_resolve(aliases, problem.fingerprint))
        if template and template != problem.log_template:
            with transaction.atomic():
                changed += bool(follow_template(problem, template))
    return changed


_swept_up_to = 0


def sweep_after_commit() -> None:
    """After a sighting: if this process's fingerprinter recorded merges since the last
    look, sweep once the transaction commits (cheap: merges are rare). A failure is logged
    and left to the next periodic sweep."""
    global _swept_up_to
    made = get_fingerprinter().aliases_made
    if made == _swept_up_to:
        return
    _swept_up_to = made
    transaction.on_commit(sweep_aliases, robust=True)
