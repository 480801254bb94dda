"""merge_problems moves occurrences, solutions, edges and pattern links in one transaction."""

from __future__ import annotations

from datetime import timedelta

import pytest

from knowledge import services
from knowledge.models import (
    Edge,
    Occurrence,
    Pattern,
    PatternKind,
    Problem,
    ProblemStatus,
    Relation,
    Solution,
)
from knowledge.services.occurrences import upsert_occurrence

from .conftest import T0, make_problem

pytestmark = pytest.mark.django_db


def test_merge_moves_everything(import_problem, duplicate_problem):
    keep, dup = import_problem, make_problem("Chrome import times out", services=["web"])
    other = duplicate_problem
    services.record_sighting("keep me", at=T0)  # unrelated problem, untouched
    for problem, count in ((keep, 3), (dup, 4)):
        upsert_occurrence(
            problem.pk, at=T0, service="import-worker", instance="w1", count=count, event_ids=["x"]
        )
        upsert_occurrence(
            problem.pk,
            at=T0 + timedelta(minutes=5),
            service="web",
            instance="w9",
            count=1,
            event_ids=[],
        )
    Problem.objects.filter(pk=keep.pk).update(occurrence_count=5)
    Problem.objects.filter(pk=dup.pk).update(occurrence_count=6, first_seen=T0 - timedelta(days=1))
    shared, _ = services.add_solution(keep, "Retry with smaller batch")
    twin, _ = services.add_solution(dup, "Retry with smaller batch")
    own, _ = services.add_solution(dup, "Scale out import workers")
    services.record_solution_outcome(twin, True)
    services.link(dup, Relation.CAUSES, other)
    services.link(keep, Relation.CAUSES, other, weight=0.5)
    services.link(dup, Relation.SIMILAR_TO, keep)
    pattern = Pattern.objects.create(name="big imports", kind=PatternKind.RECURRING)
    pattern.problems.add(dup)
    earlier = make_problem("merged into dup earlier")
    Problem.objects.filter(pk=earlier.pk).update(merged_into=dup)

    services.merge_problems(keep, [dup])

    keep.refresh_from_db()
    dup.refresh_from_db()
    assert keep.occurrence_count == 11
    assert keep.first_seen == T0 - timedelta(days=1)
    assert set(keep.services) == {"import-worker", "web"}
    assert dup.merged_into == keep and dup.status == ProblemStatus.IGNORED
    assert dup.occurrence_count == 0
    assert Problem.objects.get(pk=earlier.pk).merged_into == keep
    counts = dict(Occurrence.objects.filter(problem=keep).values_list("service", "count"))
    assert counts == {"import-worker": 7, "web": 2}
    assert not Occurrence.objects.filter(problem=dup).exists()
    shared.refresh_from_db()
    assert shared.successes == 1
    assert not Solution.objects.filter(pk=twin.pk).exists()
    assert Solution.objects.get(pk=own.pk).problem == keep
    causes = Edge.objects.get(relation=Relation.CAUSES)
    assert causes.source == keep.node and causes.evidence_count == 2
    assert causes.weight == pytest.approx(0.75)
    assert not Edge.objects.filter(relation=Relation.SIMILAR_TO).exists()  # self-loop dropped
    assert set(
        Edge.objects.filter(relation=Relation.SOLVED_BY).values_list("target_id", flat=True)
    ) == {shared.pk, own.pk}
    assert list(pattern.problems.all()) == [keep]


def test_sightings_of_a_merged_fingerprint_count_for_the_kept_problem(import_problem):
    dup = services.record_sighting("Import worker killed: memory limit exceeded", at=T0)
    services.merge_problems(import_problem, [dup])
    again = services.record_sighting("Import worker killed: memory limit exceeded", at=T0)
    assert again == import_problem
    assert Problem.objects.get(pk=import_problem.pk).occurrence_count == 2  # 1 moved + 1 new
    assert Problem.objects.get(pk=dup.pk).occurrence_count == 0
