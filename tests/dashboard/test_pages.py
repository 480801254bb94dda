"""Pages: login everywhere, the overview's panels, detail pages, htmx fragments."""

from __future__ import annotations

import pytest

from agents import mesh
from agents.events import parse_event, system_event
from agents.system_events import AgentHeartbeat
from knowledge.models import Occurrence, Solution

pytestmark = pytest.mark.django_db

PAGES = ["/", "/panels/agents/", "/events/", "/services/", "/problems/1/", "/agents/monitor/"]


@pytest.mark.parametrize("url", PAGES)
def test_every_page_sends_anonymous_visitors_to_login(client, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_the_overview_shows_every_panel(
    client, viewer_user, monitor_agent, open_incident, bookmarks_service
):
    client.force_login(viewer_user)

    html = client.get("/").content.decode()

    for panel in ("incidents", "agents", "rates", "approvals", "runs", "knowledge", "services"):
        assert f'id="panel-{panel}"' in html
    assert "monitor" in html and "handling 100 events" in html
    assert 'data-status="running"' in html and ">running<" in html  # colour and text
    assert "Import timed out after …" in html and "Critical" in html  # the open incident
    assert "Needs a look: no automatic fix applies" in html
    # Its instance beats, but the critical incident on it keeps it from looking green.
    assert "1 / 1 up · 1 open incident" in html and 'data-service-state="failing"' in html
    assert 'ws-connect="/ws/status/"' in html
    assert "/static/django_htmx/ext/hx-ws-2" in html


def test_the_overview_runs_a_fixed_number_of_queries(
    client, django_assert_num_queries, viewer_user, monitor_agent, open_incident, bookmarks_service
):
    client.force_login(viewer_user)
    client.get("/")  # warm: session, content types

    # session, user, open + resolved incidents and their runs, approvals + runs (or, before
    # remediation has migrated, one table check each), agents, 3 knowledge counts, services +
    # instances + open incidents by service, the viewer's permissions (user + group),
    # health's database check: nothing grows with the rows.
    with django_assert_num_queries(17):
        client.get("/")


def test_a_panel_renders_alone_for_htmx(client, viewer_user, monitor_agent):
    client.force_login(viewer_user)

    html = client.get("/panels/agents/", HTTP_HX_REQUEST="true").content.decode()

    assert html.lstrip().startswith('<section class="panel wide" id="panel-agents"')
    assert "<html" not in html
    assert client.get("/panels/nope/").status_code == 404


def test_viewers_see_pending_approvals_without_buttons(client, viewer_user, pending_run):
    client.force_login(viewer_user)

    html = client.get("/panels/approvals/").content.decode()

    assert f'id="approval-{pending_run.pk}"' in html
    assert "would restart bookmarks/web-1" in html  # the dry-run preview
    assert "high risk" in html
    assert "<button" not in html and "waiting for an operator" in html


def test_operators_see_approve_and_reject_when_remediation_serves_them(
    client, operator_user, approve_permission, pending_run
):
    from django.urls import reverse

    from dashboard.roles import ensure_groups

    ensure_groups()
    client.force_login(operator_user)

    html = client.get("/panels/approvals/").content.decode()

    approve_url = reverse("remediation:approve", args=[pending_run.pk])
    assert f'hx-post="{approve_url}"' in html and ">Approve<" in html and ">Reject<" in html


def test_recent_runs_show_their_outcome(client, viewer_user, pending_run):
    client.force_login(viewer_user)

    html = client.get("/panels/runs/").content.decode()

    assert f'id="run-{pending_run.pk}"' in html and "status-awaiting_approval" in html


def test_the_problem_page_shows_chart_diagnosis_and_solutions(client, viewer_user, open_problem):
    from django.utils import timezone

    from knowledge.models import Diagnosis

    Occurrence.objects.create(
        problem=open_problem, at=Occurrence.bucket(timezone.now()), service="bookmarks", count=7
    )
    Diagnosis.objects.create(
        problem=open_problem, trigger_event_id="e-1", trigger_type="import.failed",
        root_cause="Upstream timeout", confidence=0.8, evidence={"events": ["e-1"]},
        hypotheses=[{"cause": "Upstream timeout", "kind": "known-problem", "score": 1.6,
                     "evidence": [{"kind": "exception-type", "type": "ReadTimeout"}]}],
    )  # fmt: skip
    Solution.objects.create(problem=open_problem, title="Retry in smaller batches", successes=3)
    client.force_login(viewer_user)

    html = client.get(f"/problems/{open_problem.pk}/").content.decode()

    assert "<svg" in html and "<polyline" in html
    assert "Upstream timeout" in html and "e-1" in html
    assert (
        "<li>It looks like a known problem: Upstream timeout (a ReadTimeout was raised).</li>"
        in html
    )
    assert "<dt>Events</dt>" in html  # a key with no sentence: shown readably, not as a dict
    assert "Retry in smaller batches" in html and "3/3" in html


def test_the_agent_page_charts_its_heartbeats(client, viewer_user, monitor_agent):
    beat = AgentHeartbeat(
        agent="monitor", consumer="w1", processed=50, errors=0, status="running", activity="idle"
    )
    mesh.publish(system_event("agent.heartbeat", beat, instance="monitor"))
    client.force_login(viewer_user)

    html = client.get("/agents/monitor/").content.decode()

    assert "w1" in html and "<svg" in html
    assert client.get("/agents/nobody/").status_code == 404


def test_the_event_tail_filters_by_type_and_service_and_varies_on_htmx(client, viewer_user):
    mesh.publish(
        parse_event(
            {
                "type": "import.failed",
                "source": "bookmarks",
                "payload": {"import_id": "i-1", "error": "Timeout after 30s"},
            }
        )
    )
    mesh.publish(parse_event({"type": "import.failed", "source": "other",
                              "payload": {"import_id": "i-2", "error": "Boom"}}))  # fmt: skip
    client.force_login(viewer_user)

    full = client.get("/events/?type=import.failed&service=bookmarks")
    fragment = client.get("/events/?type=import.failed", HTTP_HX_REQUEST="true")

    assert "Import ID: i-1; Error: Timeout after 30s" in full.content.decode()  # not a dict
    assert "Boom" not in full.content.decode()
    assert "HX-Request" in full["Vary"]
    assert "<html" not in fragment.content.decode() and "Boom" in fragment.content.decode()


def test_the_self_refreshing_tail_reads_only_the_streams(
    client, django_assert_num_queries, viewer_user
):
    client.force_login(viewer_user)
    client.get("/events/", HTTP_HX_REQUEST="true")

    with django_assert_num_queries(2):  # the session and the user; no panel data
        client.get("/events/", HTTP_HX_REQUEST="true")


def test_the_services_page_lists_instances_with_their_status(
    client, viewer_user, bookmarks_service
):
    client.force_login(viewer_user)

    html = client.get("/services/").content.decode()

    assert "web-1" in html and "status-up" in html


def test_the_run_page_shows_preview_and_timeline_and_buttons_only_to_approvers(
    client, viewer_user, operator_user, approve_permission, pending_run
):
    from dashboard.roles import ensure_groups

    ensure_groups()
    # A timeline entry, then back to waiting (rows only; the engine is remediation's).
    pending_run.transition("rejected", actor=operator_user, reason="not now")
    type(pending_run).objects.filter(pk=pending_run.pk).update(status="awaiting_approval")

    client.force_login(viewer_user)
    as_viewer = client.get(f"/runs/{pending_run.pk}/").content.decode()
    client.force_login(operator_user)
    as_operator = client.get(f"/runs/{pending_run.pk}/").content.decode()

    assert "would restart bookmarks/web-1" in as_viewer
    assert "<dt>Instances</dt><dd>1</dd>" in as_viewer  # the blast radius, readably
    assert "<li>Diagnosed cause: Upstream timeout.</li>" in as_viewer  # the evidence
    assert "not now" in as_viewer and "otto" in as_viewer  # the timeline
    assert ">Approve<" not in as_viewer and "Waiting for an operator" in as_viewer
    assert ">Approve<" in as_operator and ">Reject<" in as_operator
    assert client.get("/runs/999999/").status_code == 404


@pytest.mark.parametrize(
    ("total", "healthy", "incidents", "expected"),
    [
        (2, 2, [], ("ok", "2 / 2 up")),
        (2, 2, ["error"], ("warn", "2 / 2 up · 1 open incident")),
        (2, 2, ["warning", "critical"], ("failing", "2 / 2 up · 2 open incidents")),
        (2, 1, [], ("warn", "1 / 2 up")),
        (2, 0, [], ("failing", "0 / 2 up")),
    ],
)
def test_service_health_reflects_open_incidents(total, healthy, incidents, expected):
    from dashboard.panels import service_health

    assert service_health(total, healthy, incidents) == expected
