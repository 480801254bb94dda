"""Approval prompts follow their incident: superseded (saying why) when the incident is
resolved by hand or a newer identical proposal arrives; never two live prompts for one
action on one cause; different causes keep their own prompts."""

from __future__ import annotations

import pytest

from agents import mesh
from knowledge import services
from knowledge.models import IncidentState
from remediation import engine
from remediation.models import RemediationRun, RunStatus
from tests.remediation.conftest import make_diagnosis, make_rule

pytestmark = pytest.mark.django_db(transaction=True)


def prompt(diagnosis) -> RemediationRun:
    [run] = engine.propose_for_diagnosis(diagnosis.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.AWAITING_APPROVAL
    return run


def live_prompts() -> list[int]:
    return list(
        RemediationRun.objects.filter(status=RunStatus.AWAITING_APPROVAL).values_list(
            "pk", flat=True
        )
    )


def test_resolving_the_incident_by_hand_supersedes_its_prompt(control, approver):
    make_rule(action="clear_cache", requires_approval=True)
    diagnosis = make_diagnosis()
    run = prompt(diagnosis)
    incident = services.incident_for(diagnosis)
    assert incident.state == IncidentState.REMEDIATING

    assert services.resolve(incident, actor=approver, note="flushed the cache by hand")

    run.refresh_from_db()
    assert run.status == RunStatus.SUPERSEDED
    reason = run.transitions.last().reason
    assert reason == "its incident was resolved (flushed the cache by hand)"
    [event] = [d.event.payload for d in mesh.replay("remediation.superseded")]
    assert event["run"] == run.pk and event["reason"] == reason
    assert incident.timeline.filter(text__startswith="Approval prompt superseded").exists()
    with pytest.raises(engine.ApprovalError, match="superseded"):
        engine.approve(run, approver)
    assert control.requests == []


def test_a_newer_identical_proposal_replaces_the_older_prompt(control):
    make_rule(action="clear_cache", requires_approval=True)
    first_diagnosis, second_diagnosis = make_diagnosis(), make_diagnosis()
    older = prompt(first_diagnosis)

    newer = prompt(second_diagnosis)  # the fault came back: a new incident, same cause

    older.refresh_from_db()
    assert older.status == RunStatus.SUPERSEDED
    assert f"a newer identical proposal (run {newer.pk}" in older.transitions.last().reason
    assert live_prompts() == [newer.pk]
    old_incident = services.incident_for(first_diagnosis)
    new_incident = services.incident_for(second_diagnosis)
    assert old_incident.state == IncidentState.RESOLVED
    assert (
        old_incident.resolution
        == f"Folded into incident {new_incident.pk}: the same cause came back"
    )
    assert new_incident.state == IncidentState.REMEDIATING


def test_two_rules_proposing_one_action_leave_one_live_prompt(control):
    make_rule(action="clear_cache", requires_approval=True)
    make_rule(action="clear_cache", requires_approval=True)

    runs = engine.propose_for_diagnosis(make_diagnosis().pk)

    assert len(runs) == 2
    assert live_prompts() == [max(r.pk for r in runs)]


def test_different_causes_keep_their_own_prompts(control):
    make_rule(action="clear_cache", requires_approval=True, signal="import_timeout")
    make_rule(action="clear_cache", requires_approval=True, signal="search_latency_high")

    first = prompt(make_diagnosis("import_timeout"))
    second = prompt(make_diagnosis("search_latency_high"))

    assert sorted(live_prompts()) == sorted([first.pk, second.pk])
