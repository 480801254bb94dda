"""merge_problems is safe whoever calls it: it follows tombstones, never revives one, and two
merges of the same problems at once (in any direction) serialise instead of deadlocking."""

from __future__ import annotations

import itertools
import threading

import pytest
from django.db import connections

from knowledge import services
from knowledge.models import Occurrence, Problem, ProblemStatus
from knowledge.services.occurrences import upsert_occurrence

from .conftest import T0, make_problem


def _counted(title: str, count: int) -> Problem:
    problem = make_problem(title)
    upsert_occurrence(problem.pk, at=T0, service="web", instance=title, count=count, event_ids=[])
    Problem.objects.filter(pk=problem.pk).update(occurrence_count=count)
    return problem


@pytest.mark.django_db
def test_merging_into_a_tombstone_follows_it_and_never_revives_it():
    kept, tomb, other = _counted("kept", 2), _counted("tomb", 3), _counted("other", 5)
    services.merge_problems(kept, [tomb])

    merge = services.merge_problems(tomb, [other])

    assert merge.keep.pk == kept.pk and merge.merged == [other.pk]
    assert merge.redirected == {tomb.pk: kept.pk}
    tomb.refresh_from_db()
    assert tomb.merged_into_id == kept.pk  # still a tombstone
    assert Problem.objects.get(pk=other.pk).merged_into_id == kept.pk
    assert Problem.objects.get(pk=kept.pk).occurrence_count == 10
    assert Occurrence.objects.get(problem=kept, instance="other").count == 5
    assert not Occurrence.objects.filter(problem__in=[tomb, other]).exists()


@pytest.mark.django_db
def test_a_duplicate_already_merged_into_keep_is_a_no_op(django_capture_on_commit_callbacks):
    kept, dup = _counted("kept", 2), _counted("dup", 3)
    services.merge_problems(kept, [dup])

    with django_capture_on_commit_callbacks() as callbacks:
        again = services.merge_problems(kept, [dup])
        backwards = services.merge_problems(dup, [kept])

    assert again.merged == [] and backwards.merged == []
    assert backwards.keep.pk == kept.pk and backwards.redirected == {dup.pk: kept.pk}
    assert not callbacks  # nothing changed, nothing announced
    kept.refresh_from_db()
    assert kept.occurrence_count == 5 and kept.merged_into_id is None
    assert Problem.objects.get(pk=dup.pk).merged_into_id == kept.pk
    assert sum(Occurrence.objects.filter(problem=kept).values_list("count", flat=True)) == 5


@pytest.mark.django_db
def test_a_duplicate_merged_elsewhere_stands_for_its_canonical_problem():
    kept, elsewhere, dup = _counted("kept", 1), _counted("elsewhere", 4), _counted("dup", 6)
    services.merge_problems(elsewhere, [dup])

    merge = services.merge_problems(kept, [dup])

    assert merge.merged == [elsewhere.pk] and merge.redirected == {dup.pk: elsewhere.pk}
    assert set(
        Problem.objects.filter(pk__in=[elsewhere.pk, dup.pk]).values_list(
            "merged_into_id", flat=True
        )
    ) == {kept.pk}  # the older tombstone was re-pointed, so chains stay one hop
    assert Problem.objects.get(pk=kept.pk).occurrence_count == 11
    assert Problem.objects.get(pk=elsewhere.pk).status == ProblemStatus.IGNORED


def _run_together(jobs: list) -> list[BaseException]:
    barrier = threading.Barrier(len(jobs))
    errors: list[BaseException] = []

    def run(job) -> None:
        try:
            barrier.wait()
            job()
        except BaseException as exc:  # reported by the caller
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


@pytest.mark.django_db(transaction=True)
def test_opposite_merges_at_once_leave_one_problem_with_exact_counts():
    """What two curators clicking "merge" on the same pair from both ends would do: before
    merges locked in id order and re-checked, this deadlocked or un-merged a tombstone."""
    for round_ in range(4):
        first, second = _counted(f"a{round_}", 3), _counted(f"b{round_}", 4)
        errors = _run_together(
            [
                lambda f=first, s=second: services.merge_problems(f, [s]),
                lambda f=first, s=second: services.merge_problems(s, [f]),
            ]
        )
        assert not errors
        rows = Problem.objects.filter(pk__in=[first.pk, second.pk])
        canonical = [p for p in rows if p.merged_into_id is None]
        assert len(canonical) == 1
        (survivor,) = canonical
        assert survivor.occurrence_count == 7
        assert rows.exclude(pk=survivor.pk).get().merged_into_id == survivor.pk
        buckets = Occurrence.objects.filter(problem=survivor)
        assert sorted(buckets.values_list("count", flat=True)) == [3, 4]


@pytest.mark.django_db(transaction=True)
def test_many_crossing_merges_at_once_fold_into_one_problem():
    problems = [_counted(f"p{i}", i + 1) for i in range(4)]
    pairs = list(itertools.permutations(problems, 2))[:8]  # both directions of several pairs
    errors = _run_together(
        [lambda k=keep, d=dup: services.merge_problems(k, [d]) for keep, dup in pairs]
    )
    assert not errors
    rows = Problem.objects.filter(pk__in=[p.pk for p in problems])
    canonical = [p for p in rows if p.merged_into_id is None]
    assert len(canonical) == 1
    (survivor,) = canonical
    assert survivor.occurrence_count == 1 + 2 + 3 + 4
    assert set(rows.exclude(pk=survivor.pk).values_list("merged_into_id", flat=True)) == {
        survivor.pk
    }
    assert sum(Occurrence.objects.values_list("count", flat=True)) == 10
    assert not Occurrence.objects.exclude(problem=survivor).exists()
