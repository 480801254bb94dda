"""What the pages say at 3 a.m.: times with "ago" or their zone, actions by their titles,
confidence in percent, what Approve and Reject do, health checks by name, and an empty state
that explains itself. Each test fails on the wording the stack showed before (screenshots of
a live `make run`: "0 minutes ago", "22:37:30" without a zone, "clear_cache",
"heartbeat:agent:bookmark-monitor", "confidence 0.92")."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from agents.heartbeats import mark_started, record_heartbeat
from dashboard.templatetags.plain import check_name
from knowledge.models import IncidentState, Problem

pytestmark = pytest.mark.django_db


def test_a_fresh_incident_was_opened_just_now_not_0_minutes_ago(client, viewer_user, open_incident):
    client.force_login(viewer_user)

    overview = client.get("/").content.decode()
    page = client.get(f"/incidents/{open_incident.pk}/").content.decode()

    for html in (overview, page):
        assert "0 minutes ago" not in html
        assert "just\N{NO-BREAK SPACE}now" in html


def test_timeline_times_name_their_zone(client, viewer_user, open_incident):
    client.force_login(viewer_user)

    html = client.get(f"/incidents/{open_incident.pk}/").content.decode()

    assert 'Timeline <small class="muted">times in UTC</small>' in html
    at = open_incident.timeline.first().at
    assert f'title="{at:%Y-%m-%d %H:%M:%S} UTC">{at:%H:%M:%S}</time>' in html


def test_an_older_clock_time_carries_its_date():
    from core.humane import clock

    yesterday = timezone.now() - timedelta(days=1, minutes=5)

    html = clock(yesterday)

    assert f">{yesterday:%b}\N{NO-BREAK SPACE}{yesterday.day},\N{NO-BREAK SPACE}" in html
    assert clock(None) == "—"


def test_the_approval_prompt_names_the_action_and_says_what_each_button_does(
    client, operator_user, approve_permission, pending_run, open_incident
):
    from dashboard.roles import ensure_groups
    from knowledge.models import Incident

    ensure_groups()
    Incident.objects.filter(pk=open_incident.pk).update(diagnosis=pending_run.diagnosis)
    client.force_login(operator_user)

    page = client.get(f"/incidents/{open_incident.pk}/").content.decode()
    overview = client.get("/").content.decode()

    assert "Approve “Restart service”?" in page and "restart_service" not in page
    assert "Approve runs it now; Reject runs nothing and leaves the incident to you." in page
    assert "90% confident" in page
    assert "<strong>Restart service</strong>" in overview and "restart_service" not in overview
    assert "90% confident" in overview and "Approve or reject: Restart service" in overview


def test_the_run_page_says_where_the_run_stands_in_words(client, viewer_user, pending_run):
    pending_run.expires_at = timezone.now() + timedelta(minutes=30)
    pending_run.save(update_fields=["expires_at"])
    client.force_login(viewer_user)

    html = client.get(f"/runs/{pending_run.pk}/").content.decode()

    assert f"<title>Run #{pending_run.pk}: Restart service" in html
    assert "Approving does this: would restart bookmarks/web-1." in html
    assert "Rejecting does nothing and leaves the incident to a person." in html
    assert "It expires <time" in html
    assert ">in\N{NO-BREAK SPACE}29\N{NO-BREAK SPACE}minutes</time> if nobody decides." in html
    assert "90% confident (its rule acts from 80%)" in html
    assert "confidence 0.90" not in html


def test_run_transitions_read_as_words(client, viewer_user, operator_user, pending_run):
    pending_run.transition("rejected", actor=operator_user, reason="not now")
    client.force_login(viewer_user)

    html = client.get(f"/runs/{pending_run.pk}/").content.decode()

    assert '<td data-label="From">awaiting approval</td>' in html
    assert ">awaiting_approval<" not in html


def test_health_checks_are_named_for_people():
    assert check_name("heartbeat:agent:bookmark-monitor") == "Agent bookmark-monitor is alive"
    assert check_name("heartbeat:celery-worker@vm") == "Celery worker on vm is alive"
    assert check_name("database") == "Database (PostgreSQL)"


def test_the_overview_health_panel_uses_those_names(client, viewer_user):
    mark_started()
    record_heartbeat("agent:bookmark-monitor")
    client.force_login(viewer_user)

    html = client.get("/").content.decode()

    assert "Agent bookmark-monitor is alive" in html and ">heartbeat:agent:" not in html
    assert "answered in" in html and " ms" in html


def test_resolved_incidents_sit_under_their_own_heading(client, viewer_user, open_incident):
    from knowledge import services

    services.resolve(open_incident, actor=None, note="restarted by hand")
    client.force_login(viewer_user)

    html = client.get("/").content.decode()

    assert "Recently resolved: nothing to do" in html
    assert 'data-label="How it ended" class="next">restarted by hand' in html
    open_incident.refresh_from_db()
    assert open_incident.state == IncidentState.RESOLVED


def test_a_catalogue_problem_without_occurrences_says_so(client, viewer_user):
    problem = Problem.objects.create(fingerprint="catalogue:never", title="Disk full")
    client.force_login(viewer_user)

    html = client.get(f"/problems/{problem.pk}/").content.decode()

    assert "a known problem from the catalogue, no occurrences counted under it yet" in html
    assert "0 occurrences" not in html
    assert "No diagnosis has named this problem as the cause yet." in html


def test_a_filtered_event_tail_with_nothing_says_why(client, viewer_user):
    client.force_login(viewer_user)

    html = client.get("/events/?service=nowhere").content.decode()

    assert "No events match this filter" in html
    assert "Time (UTC)" in html


def test_a_catalogue_problem_lists_the_incidents_that_ranked_it(client, viewer_user, open_problem):
    from knowledge import services
    from knowledge.models import Diagnosis

    catalogue = Problem.objects.create(fingerprint="catalogue:session", title="Session outage")
    # The error fingerprinted into a problem of its own; the catalogue one is a hypothesis.
    diagnosis = Diagnosis.objects.create(
        problem=open_problem, service="bookmarks", trigger_event_id="t-cat",
        trigger_type="log.line", root_cause="Session outage", confidence=0.7,
        hypotheses=[{"cause": "Session outage", "kind": "known-problem",
                     "problem": catalogue.pk, "score": 2.0}],
    )  # fmt: skip
    incident = services.open_incident(diagnosis)
    client.force_login(viewer_user)

    html = client.get(f"/problems/{catalogue.pk}/").content.decode()

    assert f'href="/incidents/{incident.pk}/"' in html
    assert "No diagnosis has named this problem" not in html


def test_an_incident_without_a_fix_says_why_and_what_is_left_to_a_person(
    client, viewer_user, open_incident
):
    from knowledge.models import Solution

    solution = Solution.objects.create(title="Restart the import worker", action="")
    open_incident.diagnosis.suggestions = [{"solution": solution.pk}]
    open_incident.diagnosis.save(update_fields=["suggestions"])
    client.force_login(viewer_user)

    html = client.get(f"/incidents/{open_incident.pk}/").content.decode()

    assert "no remediation rule matches this cause" in html
    assert "The known fixes below are for a person to apply" in html
    assert "Restart the import worker: not tried yet" in html


def test_the_admin_says_whose_it_is_and_its_exact_times_name_their_zone(
    client, django_user_model, open_incident
):
    admin_user = django_user_model.objects.create_superuser("ada", "ada@example.com", "pw-1!")
    client.force_login(admin_user)

    html = client.get(f"/admin/knowledge/incident/{open_incident.pk}/change/").content.decode()

    assert "AI-Ops Core administration" in html and "Django administration" not in html
    opened = timezone.localtime(open_incident.opened_at)
    assert f"{opened:%H:%M:%S} UTC" in html  # not "10:37 p.m." in an unnamed zone


def test_the_login_page_says_where_it_leads_and_where_accounts_come_from(client):
    html = client.get("/accounts/login/?next=/incidents/7/").content.decode()

    assert "Log in to open <code>/incidents/7/</code>." in html
    assert "printed by <code>make run</code>" in html


def test_an_approval_states_what_happens_if_the_fix_does_not_help(client, viewer_user, pending_run):
    from remediation.models import RemediationRun, Rule

    rule = Rule.objects.create(name="scale-search", signal="slow", action="scale_out")
    scale = RemediationRun.objects.create(
        rule=rule, diagnosis=pending_run.diagnosis, service="search",
        action="scale_out", risk="critical", confidence=0.9, threshold=0.8,
        status="awaiting_approval", approvals_required=2, preview="add a replica",
    )  # fmt: skip
    client.force_login(viewer_user)

    overview = client.get("/").content.decode()
    restart = client.get(f"/runs/{pending_run.pk}/").content.decode()
    scaled = client.get(f"/runs/{scale.pk}/").content.decode()

    cannot = "It cannot be undone automatically: if it does not help, the incident returns to you."
    assert cannot in restart and cannot in overview
    rolled_back = "If the symptom does not stop, it is rolled back automatically."
    assert rolled_back in scaled and rolled_back in overview
    assert "It needs 2 different approvers." in scaled
    assert "Needs 2 different approvers." in overview


def test_a_run_still_in_progress_says_where_it_stands_in_the_why_column(
    client, viewer_user, pending_run
):
    client.force_login(viewer_user)

    html = client.get("/").content.decode()

    assert (
        '<td data-label="Why" class="reason">waiting for an operator to approve or reject it</td>'
        in html
    )


def test_a_fix_track_record_reads_as_tries(client, viewer_user, open_incident):
    from knowledge.models import Solution

    once = Solution.objects.create(title="Clear the search cache", action="", successes=1)
    open_incident.diagnosis.suggestions = [{"solution": once.pk}]
    open_incident.diagnosis.save(update_fields=["suggestions"])
    client.force_login(viewer_user)

    html = client.get(f"/incidents/{open_incident.pk}/").content.decode()

    assert "Clear the search cache: 1 of 1 try worked · estimated success" in html
    assert "1 of 1 times" not in html


def test_the_occurrence_chart_says_its_bucket(client, viewer_user, open_problem):
    from knowledge.models import Occurrence

    Occurrence.objects.create(
        problem=open_problem, at=Occurrence.bucket(timezone.now()), service="bookmarks", count=7
    )
    client.force_login(viewer_user)

    html = client.get(f"/problems/{open_problem.pk}/").content.decode()

    # A fresh problem is charted per minute; the heading says so (it said "(last 24 h)").
    assert '<small class="muted">occurrences per minute</small>' in html


def test_the_health_link_leads_people_to_a_table_not_to_json(client, viewer_user):
    client.force_login(viewer_user)

    html = client.get("/services/").content.decode()

    assert '<a href="/#health-panel">System health</a>' in html
    assert '<a href="/health">Health</a>' not in html


def test_the_services_page_names_a_service_s_open_incidents(
    client, viewer_user, bookmarks_service, open_incident
):
    client.force_login(viewer_user)

    html = client.get("/services/").content.decode()

    # Its instance is "up"; the page must still say the service has something broken.
    assert "1 open incident:" in html
    assert f'<a href="/incidents/{open_incident.pk}/">Import timed out after …</a>' in html


def test_an_empty_chart_says_what_is_missing(client, viewer_user, monitor_agent):
    problem = Problem.objects.create(fingerprint="catalogue:quiet", title="Quiet")
    client.force_login(viewer_user)

    problem_page = client.get(f"/problems/{problem.pk}/").content.decode()
    agent_page = client.get("/agents/monitor/").content.decode()

    assert "No occurrences in the last 24 hours." in problem_page
    assert "No heartbeats from this agent in the stream: is a worker running it?" in agent_page
    assert "No data yet." not in problem_page + agent_page
