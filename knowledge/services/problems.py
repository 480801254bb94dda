"""Problems: created, edited by curators, re-embedded, retitled as their template generalises
and resolved (merges: merges.py)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import transaction

from knowledge import embeddings
from knowledge.models import Category, Problem, Severity
from knowledge.services.announce import TITLE_LENGTH, announce_problem
from knowledge.services.incidents import follow_problem_title

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


def follow_template(problem: Problem, template: str, *, announce: bool = True) -> list[str]:
    """Let ``problem`` follow its fingerprint's template once that generalised (the fold of a
    word slot that turned out to hold values, a family of clusters joined): its log template
    and, while automatic, its title (see ``Problem.follow_template``: only a generalisation
    moves them, a curator's title never). Re-embeds, since the vector is computed from both,
    and announces ``problem.updated`` unless the caller folds that into its own. When the
    title moved, open incidents titled from the problem follow it in the same transaction
    (``follow_problem_title``, announced as ``incident.retitled``). Returns the fields
    changed. Runs in the caller's transaction; rare (once per generalisation), so the
    embedding costs what the first sighting's did."""
    old_title = problem.log_template[:TITLE_LENGTH]  # what an automatic title read until now
    changed = problem.follow_template(template)
    if changed:
        embed_problems([problem])
        if "title" in changed:
            follow_problem_title(problem, old_title)
        if announce:
            announce_problem(problem, changed=changed)
    return changed


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
