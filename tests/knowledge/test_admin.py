"""The curation admin: every page renders and every action does what it says."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.urls import reverse

from knowledge import services
from knowledge.models import (
    Edge,
    Occurrence,
    Pattern,
    PatternVersion,
    Problem,
    ProblemStatus,
    Relation,
    Solution,
)

from .conftest import IMPORT_TIMEOUT, T0

pytestmark = pytest.mark.django_db


@pytest.fixture
def curator(client, admin_user):
    call_command("seed_knowledge", "--no-progress")
    services.record_sighting(IMPORT_TIMEOUT, service="import-worker", instance="w1", at=T0)
    client.force_login(admin_user)
    return client


def changelist(model: str) -> str:
    return reverse(f"admin:knowledge_{model}_changelist")


def change(model: str, pk: int) -> str:
    return reverse(f"admin:knowledge_{model}_change", args=[pk])


@pytest.mark.parametrize("model", ["problem", "solution", "pattern", "edge"])
def test_changelists_and_add_pages_render(curator, model):
    assert curator.get(changelist(model)).status_code == 200
    assert curator.get(reverse(f"admin:knowledge_{model}_add")).status_code == 200


def test_problem_changelist_search_and_filters(curator):
    response = curator.get(changelist("problem"), {"q": "Chrome import"})
    assert b"Chrome import fails with large bookmarks file" in response.content
    response = curator.get(changelist("problem"), {"category": "capacity", "service": "redis"})
    assert response.status_code == 200
    titles = {str(p) for p in response.context["cl"].result_list}
    assert (
        "Redis out of memory" in titles
        and "Chrome import fails with large bookmarks file" not in titles
    )


def test_problem_change_page_shows_similar_problems_edges_and_occurrences(curator):
    chrome = Problem.objects.get(signal="import_timeout")
    sighted = Problem.objects.get(fingerprint__regex=r"^[0-9a-f]{16}$")
    response = curator.get(change("problem", sighted.pk))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Similar problems" in html
    assert change("problem", chrome.pk) in html  # the seeded problem is among the similar ones
    assert "Occurrences (latest" in html and "import-worker" in html
    response = curator.get(change("problem", chrome.pk))
    assert "Retry with smaller batch" in response.content.decode()
    assert "solved by" in response.content.decode()


def test_problem_edit_reembeds(curator):
    problem = Problem.objects.get(signal="redis_oom")
    before = list(problem.embedding)
    data_patterns = list(problem.error_patterns)
    assert data_patterns  # the seeded examples, kept as they were
    data = {
        "title": "Redis maxmemory reached, writes refused",
        "status": "open",
        "category": "capacity",
        "severity": "critical",
        "signal": "redis_oom",
        "description": problem.description,
        "services": ",".join(problem.services),
        "error_patterns": "\r\n".join(problem.error_patterns) + "\r\n",  # one a line
        "log_template": "",
        "solutions-TOTAL_FORMS": "0",
        "solutions-INITIAL_FORMS": "0",
        "occurrences-TOTAL_FORMS": "0",
        "occurrences-INITIAL_FORMS": "0",
    }
    response = curator.post(change("problem", problem.pk), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    problem.refresh_from_db()
    assert problem.title.startswith("Redis maxmemory") and list(problem.embedding) != before
    assert problem.error_patterns == data_patterns


def test_merge_action_keeps_the_oldest(curator):
    chrome = Problem.objects.get(signal="import_timeout")
    sighted = Problem.objects.get(fingerprint__regex=r"^[0-9a-f]{16}$")
    response = curator.post(
        changelist("problem"),
        {"action": "merge_into_oldest", "_selected_action": [chrome.pk, sighted.pk]},
        follow=True,
    )
    assert "Merged 1 problem(s)" in response.content.decode()
    sighted.refresh_from_db()
    assert sighted.merged_into == chrome
    assert Occurrence.objects.get().problem == chrome


def test_status_actions(curator):
    ids = list(Problem.objects.filter(category="capacity").values_list("pk", flat=True))
    curator.post(changelist("problem"), {"action": "mark_resolved", "_selected_action": ids})
    assert set(Problem.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"resolved"}
    curator.post(changelist("problem"), {"action": "mark_ignored", "_selected_action": ids[:1]})
    assert Problem.objects.get(pk=ids[0]).status == ProblemStatus.IGNORED


def test_export_action_downloads_json(curator):
    chrome = Problem.objects.get(signal="import_timeout")
    response = curator.post(
        changelist("problem"), {"action": "export_json", "_selected_action": [chrome.pk]}
    )
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"].startswith('attachment; filename="knowledge-')
    data = json.loads(response.content)
    assert data["format"] == "aiops-knowledge"
    assert [p["title"] for p in data["problems"]] == [chrome.title]


def test_solution_pages_show_success_rate(curator):
    solution = Solution.objects.get(title="Retry with smaller batch")
    Solution.objects.filter(pk=solution.pk).update(successes=95, failures=5)
    response = curator.get(changelist("solution"))
    assert "94% (90–97%, 95/100)" in response.content.decode()
    assert curator.get(change("solution", solution.pk)).status_code == 200


def test_adding_a_solution_links_it(curator):
    chrome = Problem.objects.get(signal="import_timeout")
    response = curator.post(
        reverse("admin:knowledge_solution_add"),
        {
            "problem": chrome.pk,
            "title": "Split the file",
            "steps": "split it",
            "action": "",
            "parameters": "{}",
            "source": "manual",
        },
    )
    assert response.status_code == 302
    added = Solution.objects.get(title="Split the file")
    assert Edge.objects.filter(
        source_kind="problem",
        source_id=chrome.pk,
        relation=Relation.SOLVED_BY,
        target_kind="solution",
        target_id=added.pk,
    ).exists()


def test_pattern_actions_and_version_history(curator):
    pattern = Pattern.objects.get(name="Monday morning search surge")
    for action in ("validate", "retire"):
        curator.post(changelist("pattern"), {"action": action, "_selected_action": [pattern.pk]})
    pattern.refresh_from_db()
    assert pattern.validated and pattern.retired and pattern.version == 3
    response = curator.get(change("pattern", pattern.pk))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Roll back to v1" in html and "retired=True" in html

    rollback = reverse("admin:knowledge_pattern_rollback", args=[pattern.pk, 1])
    assert curator.get(rollback).status_code == 405
    response = curator.post(rollback, follow=True)
    assert "Rolled back to v1 (saved as v4)" in response.content.decode()
    pattern.refresh_from_db()
    assert not pattern.validated and not pattern.retired and pattern.version == 4

    curator.post(
        changelist("pattern"), {"action": "rollback_previous", "_selected_action": [pattern.pk]}
    )
    pattern.refresh_from_db()
    assert pattern.version == 5 and pattern.retired  # v3's content again
    assert PatternVersion.objects.filter(pattern=pattern).count() == 5


def test_editing_a_pattern_records_a_version(curator):
    pattern = Pattern.objects.get(name="Monday morning search surge")
    response = curator.post(
        change("pattern", pattern.pk),
        {
            "name": pattern.name,
            "kind": pattern.kind,
            "description": "edited",
            "matcher": json.dumps(pattern.matcher),
            "confidence": "0.65",
            "problems": list(pattern.problems.values_list("pk", flat=True)),
            "solutions": list(pattern.solutions.values_list("pk", flat=True)),
            "versions-TOTAL_FORMS": "0",
            "versions-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    latest = pattern.versions.first()
    assert latest.version == 2 and latest.snapshot["description"] == "edited"
    assert latest.reason.startswith("edited: ")


def test_edge_pages(curator):
    edge = Edge.objects.filter(relation=Relation.CAUSES).first()
    response = curator.get(changelist("edge"))
    assert response.status_code == 200 and "causes" in response.content.decode()
    assert curator.get(change("edge", edge.pk)).status_code == 200


@pytest.fixture
def problem_curator(client, django_user_model):
    """A staff member with just the problem permissions, as a curator would have."""
    call_command("seed_knowledge", "--no-progress")
    services.record_sighting(IMPORT_TIMEOUT, service="import-worker", instance="w1", at=T0)
    user = django_user_model.objects.create_user("cora", password="pw-cora-123", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_problem", "change_problem"])
    )
    client.force_login(user)
    return client


def test_merge_action_into_a_merged_problem_follows_it_and_says_so(problem_curator):
    chrome = Problem.objects.get(signal="import_timeout")
    redis = Problem.objects.get(title="Redis out of memory")
    sighted = Problem.objects.get(fingerprint__regex=r"^[0-9a-f]{16}$")
    services.merge_problems(redis, [chrome])  # chrome, the oldest selected, is a tombstone now
    count = Problem.objects.get(pk=redis.pk).occurrence_count

    response = problem_curator.post(
        changelist("problem"),
        {"action": "merge_into_oldest", "_selected_action": [chrome.pk, sighted.pk]},
        follow=True,
    )

    page = response.content.decode()
    assert (
        "Problem “Chrome import fails with large bookmarks file” was already merged into "
        "“Redis out of memory”; merged into “Redis out of memory” instead." in page
    )
    assert "Merged 1 problem(s) into “Redis out of memory”." in page
    chrome.refresh_from_db()
    sighted.refresh_from_db()
    assert chrome.merged_into == redis  # the tombstone was not revived
    assert sighted.merged_into == redis
    assert Problem.objects.get(pk=redis.pk).occurrence_count == count + 1
    assert Occurrence.objects.get().problem == redis


def test_merge_action_with_nothing_left_to_merge_says_so(problem_curator):
    chrome = Problem.objects.get(signal="import_timeout")
    sighted = Problem.objects.get(fingerprint__regex=r"^[0-9a-f]{16}$")
    services.merge_problems(chrome, [sighted])

    response = problem_curator.post(
        changelist("problem"),
        {"action": "merge_into_oldest", "_selected_action": [chrome.pk, sighted.pk]},
        follow=True,
    )

    page = response.content.decode()
    assert "was already merged into “Chrome import fails with large bookmarks file”" in page
    assert "nothing to do for it" in page and "problem(s) into" not in page
    assert "Nothing was merged: the selected problems are already one problem" in page
    assert Problem.objects.get(pk=chrome.pk).merged_into is None


def test_a_diagnosis_shows_its_evidence_as_words_escaped_with_problems_linked(curator):
    from knowledge.models import Diagnosis

    problem = Problem.objects.order_by("pk").first()
    diagnosis = Diagnosis.objects.create(
        problem=problem, service="import-worker", trigger_event_id="e1", trigger_type="log.line",
        root_cause="timeout", confidence=0.8,
        hypotheses=[{"cause": "timeout", "kind": "known-problem", "score": 1.8,
                     "problem": problem.pk, "evidence": [{"kind": "similar-problem",
                                                          "problem": problem.pk,
                                                          "similarity": 0.9}]}],
        evidence={"affected_users": 3, "instances": {"w1": 2},
                  "trigger": {"message": "<script>alert(1)</script>"}},
    )  # fmt: skip

    html = curator.get(change("diagnosis", diagnosis.pk)).content.decode()

    # Said in sentences, as on the incident page; the rest (the trigger) readably beneath.
    assert 'class="form-row field-evidence"' in html and "3 users affected." in html
    assert "<dt>Message</dt>" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    assert f'<a href="{change("problem", problem.pk)}">{problem.pk}</a>' in html
    assert '"affected_users": 3' not in html and "[{&quot;" not in html
