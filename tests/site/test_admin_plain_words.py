"""The admin in plain words: every page a curator opens says what it stores as a person
would, not as JSON, codes or log templates (``["01J…"]``, ``auto_up_to_medium``, ``<*>``,
``restart_service``, Unix times, clock times without a zone), and the JSON a curator edits
that is only a list of words is edited one item a line, and still saves."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from agents.models import Agent, Anomaly, ApiToken
from core.plain_data import LinesField
from knowledge import services
from knowledge.models import Diagnosis, Edge, Occurrence, Pattern, Problem, Relation, Solution
from knowledge.seed import seed_knowledge
from remediation.models import (
    Approval,
    AuditEntry,
    RemediationRun,
    RemediationSettings,
    Rule,
    RunTransition,
)
from simulator.models import FaultInjection

pytestmark = pytest.mark.django_db

EVENT_IDS = [f"01JDZ{n:021d}" for n in range(5)]
TEMPLATE_TITLE = "Import worker <*> out of memory"


def change(model: Any, pk: int) -> str:
    meta = model._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[pk])


def changelist(model: Any) -> str:
    meta = model._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")


def form_data(response: Any) -> dict[str, Any]:
    """What a curator's browser posts back from a change form, untouched: every field's
    shown value and each inline's management form."""
    form = response.context["adminform"].form
    data: dict[str, Any] = {}
    for name in form.fields:
        value = form[name].value()  # as the widget shows it (a JSON field's text, lines)
        if isinstance(value, bool):
            if value:
                data[name] = "on"
        elif isinstance(value, list | tuple):
            data[name] = [str(v) for v in value]
        else:
            data[name] = "" if value is None else value
    for inline in response.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = management[name].value()
        # Inline rows are posted as they are: unchanged, they change nothing.
        for row in inline.formset.forms:
            for name in row.fields:
                value = row[name].value()
                if value not in (None, False):
                    data[row.add_prefix(name)] = "on" if value is True else value
    return data


def heading(html: str) -> str:
    """The object's name as the change form's heading says it (Django's ``<h2>``)."""
    found = re.search(r'<div id="content"[^>]*>.*?<h2>(.*?)</h2>', html, re.S)
    assert found, "no heading"
    return found[1]


@pytest.fixture
def curator(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def problem(db) -> Problem:
    return Problem.objects.create(fingerprint="test:oom", title="Import worker ran out of memory")


def diagnosis_of(problem: Problem, **fields: Any) -> Diagnosis:
    return Diagnosis.objects.create(
        problem=problem, service="import-worker", instance="w1", trigger_event_id="e-1",
        trigger_type="log.line", root_cause="Import worker ran out of memory", confidence=0.8,
        signal="import_oom", **fields,
    )  # fmt: skip


# --- The four the review found --------------------------------------------------------------


def test_a_problems_occurrences_show_how_many_events_not_a_json_list(curator, problem):
    Occurrence.objects.create(
        problem=problem, at=Occurrence.bucket(timezone.now()), service="import-worker",
        instance="w1", count=5, event_ids=EVENT_IDS,
    )  # fmt: skip

    html = curator.get(change(Problem, problem.pk)).content.decode()

    assert "5 events: " in html and EVENT_IDS[0] in html
    assert '["01J' not in html and "[&quot;01J" not in html
    # The row's own line names its minute with the zone, not "12 @ 2026-12-01 01:56 x5".
    assert "Seen 5 times in the minute from " in html and " UTC" in html


def test_the_settings_heading_and_breadcrumb_name_the_autonomy_by_its_label(curator):
    settings_row = RemediationSettings.load()

    html = curator.get(change(RemediationSettings, settings_row.pk)).content.decode()

    assert heading(html) == "Autonomy: automatic up to medium risk"
    assert "auto_up_to_medium" not in html.replace('value="auto_up_to_medium"', "")
    breadcrumbs = re.search(r'<div class="breadcrumbs">(.*?)</div>', html, re.S)[1]
    assert "automatic up to medium risk" in breadcrumbs and "autonomy auto_" not in breadcrumbs


def test_the_settings_still_save_and_their_heading_follows(curator):
    settings_row = RemediationSettings.load()
    url = change(RemediationSettings, settings_row.pk)
    data = form_data(curator.get(url))
    data.update(autonomy_mode="auto_low", kill_switch="on")

    response = curator.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    settings_row.refresh_from_db()
    assert settings_row.autonomy_mode == "auto_low" and settings_row.kill_switch
    html = curator.get(url).content.decode()
    assert heading(html) == "Autonomy: automatic for low risk, KILL SWITCH ON"


def test_a_diagnosis_names_similar_problems_readably_never_by_their_template(curator, problem):
    diagnosis = diagnosis_of(
        problem,
        evidence={
            "similar": [{"problem": problem.pk, "title": TEMPLATE_TITLE, "score": 0.71}],
            "event_ids": EVENT_IDS, "affected_users": 2,
            "trigger": {"error_type": "MemoryError", "batch_size": 500},
        },
        hypotheses=[{"cause": f"Known: {TEMPLATE_TITLE}", "kind": "known-problem",
                     "score": 1.2, "problem": problem.pk, "evidence": []}],
    )  # fmt: skip

    html = curator.get(change(Diagnosis, diagnosis.pk)).content.decode()

    assert "Similar known problems: Import worker … out of memory (71%)." in html
    assert '<div class="readonly">80%</div>' in html  # its confidence
    assert "It looks like a known problem: Known: Import worker … out of memory." in html
    assert "<*>" not in html and "&lt;*&gt;" not in html
    # What sentences do not say is still there, readably, one click away.
    assert "<summary>Technical details</summary>" in html and "<dt>Error type</dt>" in html


def test_a_run_shows_its_evidence_in_the_diagnosis_sentences(curator, problem):
    run = waiting_run(problem, evidence={
        "root_cause": "Import worker ran out of memory",
        "similar": [{"problem": problem.pk, "title": TEMPLATE_TITLE, "score": 0.71}],
    })  # fmt: skip

    html = curator.get(change(RemediationRun, run.pk)).content.decode()

    assert "Import worker … out of memory (71%)" in html and "&lt;*&gt;" not in html
    # Confidence and threshold as the list and the dashboard say them, not 0.8 and 0.7.
    assert '<div class="readonly">80%</div>' in html and '<div class="readonly">70%</div>' in html


def test_a_patterns_versions_read_as_words_not_json(curator, admin_user):
    seed_knowledge()
    pattern = Pattern.objects.get(name="Halve the batch on import timeouts")
    services.save_pattern_version(pattern, admin_user, "reviewed")

    html = curator.get(change(Pattern, pattern.pk)).content.decode()

    cells = re.findall(r'<td class="field-content">(.*?)</td>', html, re.S)
    assert len(cells) == pattern.versions.count() >= 2
    for cell in cells:
        text = " ".join(re.sub(r"<[^>]+>", " ", cell).split())
        assert "Kind Solution template" in text and "Confidence 75%" in text
        # Problems by title, not by the fingerprint the snapshot keeps.
        assert "Problems Chrome import fails with large bookmarks file" in text
        assert "catalogue:" not in cell and "&quot;" not in cell and "{" not in cell


def test_a_pattern_still_rolls_back_from_its_readable_history(curator, admin_user):
    seed_knowledge()
    pattern = Pattern.objects.get(name="Halve the batch on import timeouts")
    before = pattern.confidence
    Pattern.objects.filter(pk=pattern.pk).update(confidence=0.2)
    pattern.refresh_from_db()
    services.save_pattern_version(pattern, admin_user, "lowered")

    curator.post(reverse("admin:knowledge_pattern_rollback", args=[pattern.pk, 1]))

    pattern.refresh_from_db()
    assert pattern.confidence == before and pattern.version == 3


# --- The sweep: codes, JSON and times elsewhere ----------------------------------------------


def waiting_run(problem: Problem, **fields: Any) -> RemediationRun:
    rule = Rule.objects.create(name="restart-on-oom", signal="import_oom", action="restart_service")
    return RemediationRun.objects.create(
        rule=rule, diagnosis=diagnosis_of(problem), service="import-worker", instance="w1",
        signal="import_oom", action="restart_service", risk="high", confidence=0.8,
        threshold=0.7, status="awaiting_approval", **fields,
    )  # fmt: skip


def test_actions_are_named_by_title_in_lists_filters_and_headings(curator, problem):
    run = waiting_run(problem)
    Solution.objects.create(problem=problem, title="Halve the batch", action="clear_cache")
    FaultInjection.objects.create(
        scenario="oom", title="OOM", service="import-worker", correct_remediation="scale_out"
    )

    runs = curator.get(changelist(RemediationRun)).content.decode()
    rules = curator.get(changelist(Rule)).content.decode()
    solutions = curator.get(changelist(Solution)).content.decode()
    faults = curator.get(changelist(FaultInjection)).content.decode()
    run_page = curator.get(change(RemediationRun, run.pk)).content.decode()

    assert '<td class="field-action_name">Restart service</td>' in runs
    assert '<td class="field-action_name">Restart service</td>' in rules
    assert '<td class="field-action_name">Clear cache</td>' in solutions
    assert '<td class="field-remediation">Scale out</td>' in faults
    assert '<a href="?action=restart_service">Restart service</a>' in runs  # the filter
    said = f"Run {run.pk}: Restart service on import-worker (awaiting approval)"
    assert heading(run_page) == said
    assert "restart_service" not in runs.replace("?action=restart_service", "")


def test_a_runs_timeline_and_decisions_read_as_sentences(curator, problem, admin_user):
    run = waiting_run(problem)
    RunTransition.objects.create(run=run, from_status="proposed", to_status="awaiting_approval")
    Approval.objects.create(run=run, user=admin_user, decision="reject", reason="not now")

    html = curator.get(change(RemediationRun, run.pk)).content.decode()

    assert "Proposed → Awaiting Approval by system" in html
    assert "Actor label" not in html and 'name="transitions-0-actor_label"' not in html
    assert f"ada rejected run {run.pk}" in html and "rejectd" not in html


def test_an_agents_workers_say_when_they_last_beat_not_a_unix_time(curator):
    beat = timezone.now() - timedelta(minutes=3)
    agent = Agent.objects.create(
        name="monitor", kind="monitor", version="1", workers={"celery@w1": beat.timestamp()}
    )

    html = curator.get(change(Agent, agent.pk)).content.decode()

    assert "<dt>celery@w1</dt><dd>last beat <time" in html and "3\xa0minutes\xa0ago" in html
    assert str(int(beat.timestamp())) not in html


def test_anomalies_name_their_series_and_time_in_words(curator, problem):
    now = timezone.now()
    anomaly = Anomaly.objects.create(
        series="import.latency_ms{endpoint=/api/import}", detector="burst", category="latency",
        severity="critical", score=12.5, value=30125.0, window_start=now, window_end=now,
    )  # fmt: skip

    listing = curator.get(changelist(Anomaly)).content.decode()
    page = curator.get(change(Anomaly, anomaly.pk)).content.decode()

    assert '<td class="field-series">import.latency_ms(endpoint=/api/import)</td>' in listing
    assert '<td class="field-value">30125</td>' in listing
    assert heading(page).startswith("Anomaly on import.latency_ms(endpoint=/api/import)")
    assert heading(page).endswith(" UTC") and "{" not in heading(page)


def test_edges_incidents_audit_entries_and_faults_are_named_in_words(curator, problem):
    other = Problem.objects.create(fingerprint="test:other", title="Other")
    edge = Edge.objects.create(
        source_kind="problem", source_id=problem.pk, relation=Relation.SIMILAR_TO,
        target_kind="problem", target_id=other.pk,
    )  # fmt: skip
    incident = services.open_incident(diagnosis_of(problem))
    from remediation.audit import record

    record("run.auto_approved", actor="engine")
    entry = AuditEntry.objects.get(kind="run.auto_approved")
    fault = FaultInjection.objects.create(scenario="oom", title="OOM", service="import-worker")

    assert heading(curator.get(change(Edge, edge.pk)).content.decode()) == (
        f"Problem {problem.pk} similar to problem {other.pk}"
    )
    incident_page = curator.get(change(type(incident), incident.pk)).content.decode()
    assert "the signal import_oom" in incident_page and "signal:import_oom" not in incident_page
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC · Detected: ", incident_page)
    assert "Actor label" not in incident_page  # the timeline's column is headed "By"
    audit_list = curator.get(changelist(AuditEntry)).content.decode()
    assert '<td class="field-kind_label">Run auto approved</td>' in audit_list
    assert '<a href="?kind=run.auto_approved">Run auto approved</a>' in audit_list  # filter
    assert heading(curator.get(change(AuditEntry, entry.pk)).content.decode()) == (
        f"#{entry.pk}: Run auto approved by engine"
    )
    assert heading(curator.get(change(FaultInjection, fault.pk)).content.decode()).endswith(" UTC")


# --- Lists of words are edited one a line, and still save -----------------------------------


def test_a_tokens_scopes_are_edited_one_a_line_and_save(curator):
    token, _ = ApiToken.issue("web pods", "bookmarks", scopes=["events"], also_services=["w"])
    url = change(ApiToken, token.pk)
    page = curator.get(url)
    html = page.content.decode()
    assert "[&quot;events&quot;]" not in html and '["events"]' not in html
    data = form_data(page)
    data.update(scopes="events\r\nregistry\r\n\r\n", also_services="bookmarks-worker\r\n")

    response = curator.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    token.refresh_from_db()
    assert token.scopes == ["events", "registry"] and token.also_services == ["bookmarks-worker"]


def test_a_rules_instances_are_edited_one_a_line_and_its_parameters_stay_json(curator, problem):
    rule = Rule.objects.create(name="clear-on-oom", signal="import_oom", action="clear_cache")
    url = change(Rule, rule.pk)
    page = curator.get(url)
    data = form_data(page)
    assert 'name="parameters"' in page.content.decode() and data["parameters"] == "{}"
    data.update(instances="web-1\r\nweb-2", parameters='{"pattern": "search:*"}')

    response = curator.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    rule.refresh_from_db()
    assert rule.instances == ["web-1", "web-2"] and rule.parameters == {"pattern": "search:*"}


def test_a_template_title_reads_without_tokens_in_lists_and_headings(curator):
    problem = Problem.objects.create(
        fingerprint="abc", title=TEMPLATE_TITLE, log_template=TEMPLATE_TITLE
    )
    diagnosis_of(problem)

    problems = curator.get(changelist(Problem)).content.decode()
    diagnoses = curator.get(changelist(Diagnosis)).content.decode()
    page = curator.get(change(Problem, problem.pk)).content.decode()

    assert "Import worker … out of memory</a>" in problems and "&lt;*&gt;" not in problems
    assert "Import worker … out of memory" in diagnoses and "&lt;*&gt;" not in diagnoses
    assert heading(page) == "Import worker … out of memory"
    # The field itself still holds the template, which is what keeps the title automatic.
    assert f'value="{TEMPLATE_TITLE.replace("<", "&lt;").replace(">", "&gt;")}"' in page
    assert "Automatic: the log template." in page


def test_a_learned_value_reads_as_words_in_the_list_and_stays_editable_json(curator):
    from knowledge.models import Recommendation

    learned = Recommendation.objects.create(key="import.batch", value={"batch_size": 250})
    url = change(Recommendation, learned.pk)

    listing = curator.get(changelist(Recommendation)).content.decode()
    data = form_data(curator.get(url))
    data.update(value='{"batch_size": 100}', confidence="0.9")
    response = curator.post(url, data)

    assert '<td class="field-value">Batch size: 250</td>' in listing
    assert response.status_code == 302, response.context["adminform"].form.errors
    learned.refresh_from_db()
    assert learned.value == {"batch_size": 100}


@pytest.mark.parametrize(
    ("typed", "items"),
    [
        ("events:write\r\nregistry\r\n\r\n", ["events:write", "registry"]),
        ("[]", []),  # the old JSON form: no instance named "[]"
        ('["web-1", " web-2 "]', ["web-1", "web-2"]),
        ("[not json", ["[not json"]),  # one line that only starts like JSON is a word
    ],
)
def test_a_list_field_reads_lines_and_the_old_json_form(typed, items):
    assert LinesField(required=False).clean(typed) == items
