"""The learning agent: batch size from import outcomes, habits, patterns with versions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from agents import mesh
from agents.events import parse_event
from agents.learning import learners as learning
from agents.learning.agent import BookmarkLearningAgent
from agents.runtime import AgentRunner
from knowledge import services
from knowledge.models import Occurrence, Pattern, PatternKind, Problem, Recommendation, Solution

pytestmark = pytest.mark.django_db(transaction=True)


def outcome(batch_size: int, ok: bool, n: int):
    payload = {"import_id": f"i-{batch_size}-{n}", "batch_size": batch_size}
    if ok:
        payload |= {
            "bookmark_count": 5000,
            "imported": 5000,
            "duration_ms": 5000 * 1000 / batch_size,
        }
        return parse_event({"type": "import.completed", "source": "b", "payload": payload})
    payload |= {"error": "Timeout after 30s"}
    return parse_event({"type": "import.failed", "source": "b", "payload": payload})


def feed(events) -> None:
    mesh.publish_many(events)
    runner = AgentRunner(BookmarkLearningAgent())
    for _ in range(3):
        runner.run_once(block_ms=50)


def test_it_learns_the_fastest_reliable_import_batch_size():
    events = []
    for n in range(30):
        events.append(outcome(250, True, n))  # reliable, slow
        events.append(outcome(1000, n % 10 != 0, n))  # 90%: faster, not reliable enough
        events.append(outcome(5000, n % 2 == 0, n))  # fastest, fails half the time
    events += [outcome(500, True, n) for n in range(30)]  # reliable and faster than 250
    feed(events)

    recommendation = learning.learn_batch_size()

    assert recommendation.value == 500
    assert recommendation.confidence >= 0.9
    table = {row["batch_size"]: row for row in recommendation.evidence["table"]}
    assert table[5000]["failed"] == 15 and table[500]["ok"] == 30
    assert learning.recommended_batch_size(default=100) == 500


def test_before_enough_imports_the_default_batch_size_stands():
    feed([outcome(500, True, n) for n in range(2)])

    assert learning.learn_batch_size() is None
    assert learning.recommended_batch_size(default=100) == 100


def test_it_learns_common_tags_and_folders():
    feed(
        [
            parse_event({"type": "bookmark.created", "source": "b", "payload": {
                "user_id": "u", "tags": ["python", "django"] if n % 2 else ["python"],
                "folder": "Work"}})
            for n in range(10)
        ]
    )  # fmt: skip

    learning.learn_habits()

    assert Recommendation.value_of("bookmarks.common_tags")[:2] == ["python", "django"]
    assert Recommendation.value_of("bookmarks.common_folders") == ["Work"]


def test_learned_patterns_get_a_new_version_only_when_they_move():
    first = services.upsert_pattern("p", PatternKind.TEMPORAL, matcher={"h": 1}, confidence=0.5)
    services.upsert_pattern("p", PatternKind.TEMPORAL, matcher={"h": 1}, confidence=0.52)
    services.upsert_pattern("p", PatternKind.TEMPORAL, matcher={"h": 2}, confidence=0.52)

    first.refresh_from_db()
    assert first.version == 2
    assert [v.snapshot["matcher"] for v in first.versions.order_by("version")] == [
        {"h": 1},
        {"h": 2},
    ]


def test_a_retired_pattern_is_not_relearned():
    pattern = services.upsert_pattern("p", PatternKind.TEMPORAL, matcher={"h": 1}, confidence=0.5)
    Pattern.objects.filter(pk=pattern.pk).update(retired=True)

    services.upsert_pattern("p", PatternKind.TEMPORAL, matcher={"h": 9}, confidence=0.9)

    pattern.refresh_from_db()
    assert pattern.matcher == {"h": 1}


def _problem(name: str) -> Problem:
    problem, _ = services.ensure_problem(fingerprint=name, title=name)
    return problem


def test_problems_sharing_their_minutes_are_linked_as_co_occurring():
    a, b, c = _problem("a"), _problem("b"), _problem("c")
    start = timezone.now().replace(second=0, microsecond=0) - timedelta(hours=2)
    for minute in range(6):
        at = start + timedelta(minutes=minute * 7)
        Occurrence.objects.create(problem=a, at=at, count=1)
        Occurrence.objects.create(problem=b, at=at, count=2)
        Occurrence.objects.create(problem=c, at=at + timedelta(minutes=3), count=1)

    patterns = learning.learn_cooccurrence()

    assert [p.name for p in patterns] == ["a with b"]
    assert set(patterns[0].problems.values_list("fingerprint", flat=True)) == {"a", "b"}


def test_problems_seen_at_the_same_hour_on_several_days_recur():
    problem = _problem("nightly")
    base = timezone.now().replace(hour=3, minute=5, second=0, microsecond=0)
    for day in range(1, 5):
        Occurrence.objects.create(problem=problem, at=base - timedelta(days=day), count=1)

    [pattern] = learning.learn_recurring()

    assert pattern.matcher == {"problem": "nightly", "hour": 3}
    assert pattern.kind == PatternKind.RECURRING


def test_a_solution_that_keeps_working_becomes_a_proven_fix():
    problem = _problem("p")
    solution = Solution.objects.create(
        problem=problem, title="Restart it", action="restart_service"
    )
    for _ in range(20):
        services.record_solution_outcome(solution, True)

    [pattern] = learning.learn_proven_solutions()

    assert pattern.kind == PatternKind.SOLUTION_TEMPLATE
    assert list(pattern.solutions.all()) == [solution]
