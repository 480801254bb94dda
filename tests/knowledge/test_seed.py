"""seed_knowledge loads the bookmark-manager catalogue once, however often it runs."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from knowledge.models import Edge, Pattern, PatternVersion, Problem, Relation, Solution
from knowledge.seed import catalogue_fingerprint, load_catalogue
from knowledge.similarity import similar_problems

pytestmark = pytest.mark.django_db

ACTIONS = {
    "retry_with_smaller_batch",
    "restart_service",
    "scale_out",
    "scale_in",
    "clear_cache",
    "toggle_feature_flag",
    "webhook",
    "command",
    "notify",
}


def counts() -> tuple[int, ...]:
    return tuple(m.objects.count() for m in (Problem, Solution, Edge, Pattern, PatternVersion))


def test_seed_is_idempotent(capsys):
    call_command("seed_knowledge", "--no-progress")
    first = counts()
    Problem.objects.filter(fingerprint=catalogue_fingerprint("redis-oom")).update(title="curated")
    call_command("seed_knowledge", "--no-progress")
    assert counts() == first
    assert first[0] >= 17
    assert "0 problems, 0 solutions, 0 edges, 0 patterns created" in capsys.readouterr().out
    assert Problem.objects.get(fingerprint=catalogue_fingerprint("redis-oom")).title == "curated"


def test_catalogue_content():
    call_command("seed_knowledge", "--no-progress")
    chrome = Problem.objects.get(title="Chrome import fails with large bookmarks file")
    assert chrome.category == "import" and chrome.signal == "import_timeout"
    assert any("timed out" in p for p in chrome.error_patterns)
    assert any("memory limit" in p for p in chrome.error_patterns)
    retry = chrome.solutions.get(title="Retry with smaller batch")
    assert retry.action == "retry_with_smaller_batch" and retry.source == "seeded"
    duplicates = Problem.objects.get(title="Duplicate bookmarks after import")
    assert duplicates.category == "data-integrity"
    assert any("duplicate key" in p for p in duplicates.error_patterns)
    for problem in Problem.objects.all():
        assert problem.signal and problem.error_patterns and problem.description
        assert problem.solutions.exists() and problem.embedding is not None
    assert set(Solution.objects.values_list("action", flat=True)) <= ACTIONS
    relations = set(Edge.objects.values_list("relation", flat=True))
    assert {Relation.SOLVED_BY, Relation.CAUSES, Relation.SIMILAR_TO} <= relations
    assert all(p.versions.count() == 1 for p in Pattern.objects.all())


def test_a_real_error_message_finds_its_seeded_problem():
    call_command("seed_knowledge", "--no-progress")
    expectations = [
        ("OSError: [Errno 28] No space left on device: '/var/uploads/x.html'", "disk_full"),
        (
            "HTTP 429 Too Many Requests fetching https://a.example/favicon.ico",
            "favicon_rate_limited",
        ),
        ("ResponseError: OOM command not allowed when used memory > 'maxmemory'", "redis_oom"),
    ]
    for message, signal in expectations:
        assert similar_problems(message, k=1)[0][0].signal == signal, message


def test_every_catalogue_edge_names_a_known_problem():
    catalogue = load_catalogue()
    keys = {p["key"] for p in catalogue["problems"]}
    assert len(keys) == len(catalogue["problems"])
    for problem in catalogue["problems"]:
        assert {e["target"] for e in problem.get("edges", [])} <= keys
