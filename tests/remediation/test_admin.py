"""The admin: pages render, runs are decided through the engine, the audit log is read-only
and exports with its hashes, and the settings row audits its changes; the agent's tick."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from remediation import engine
from remediation.agent import RemediationAgent
from remediation.models import AuditEntry, RemediationRun, RunStatus
from tests.remediation.conftest import make_diagnosis, make_rule

pytestmark = pytest.mark.django_db(transaction=True)


def waiting_run() -> RemediationRun:
    make_rule(action="clear_cache", requires_approval=True)
    [run] = engine.propose_for_diagnosis(make_diagnosis().pk)
    return run


@pytest.mark.parametrize("model", ["rule", "remediationrun", "auditentry", "remediationsettings"])
def test_changelists_render(admin_client, control, model):
    waiting_run()

    assert admin_client.get(reverse(f"admin:remediation_{model}_changelist")).status_code == 200


def test_run_and_audit_pages_render_read_only(admin_client, control):
    run = waiting_run()
    entry = AuditEntry.objects.first()

    assert admin_client.get(reverse("admin:remediation_remediationrun_change", args=[run.pk]))
    page = admin_client.get(reverse("admin:remediation_auditentry_change", args=[entry.pk]))
    assert page.status_code == 200 and b"Save" not in page.content


def test_the_admin_approve_action_goes_through_the_engine(admin_client, control):
    run = waiting_run()

    admin_client.post(
        reverse("admin:remediation_remediationrun_changelist"),
        {"action": "approve_runs", "_selected_action": [run.pk]},
    )

    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert run.transitions.get(to_status="approved").actor_label == "ada"


def test_the_audit_export_carries_the_chain(admin_client, control):
    waiting_run()
    ids = list(AuditEntry.objects.values_list("pk", flat=True))

    response = admin_client.post(
        reverse("admin:remediation_auditentry_changelist"),
        {"action": "export_jsonl", "_selected_action": ids},
    )

    lines = [json.loads(line) for line in response.content.decode().splitlines()]
    assert [line["id"] for line in lines] == ids
    assert lines[1]["prev_hash"] == lines[0]["hash"]


def test_changing_the_settings_is_audited(admin_client):
    admin_client.post(
        reverse("admin:remediation_remediationsettings_add"),
        {"autonomy_mode": "suggest", "kill_switch": "on", "service_max_runs": 10,
         "service_window_seconds": 3600, "max_restarts_per_service": 2,
         "restart_window_seconds": 3600, "circuit_failure_threshold": 3},
    )  # fmt: skip

    entry = AuditEntry.objects.get(kind="settings.changed")
    assert entry.data["kill_switch"] is True and entry.actor == "ada"


def test_the_agent_tick_expires_stale_approvals(control):
    run = waiting_run()
    RemediationRun.objects.filter(pk=run.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    RemediationAgent().tick()

    run.refresh_from_db()
    assert run.status == RunStatus.EXPIRED


def test_a_runs_json_fields_read_as_words_and_a_rules_parameters_stay_editable(
    admin_client, control
):
    run = waiting_run()
    RemediationRun.objects.filter(pk=run.pk).update(
        blast_radius={"service": "bookmarks", "instances": ["web-1", "web-2"], "rolling": True},
        result={"restarted": ["web-1"], "note": "<b>done</b>"},
    )

    page = admin_client.get(reverse("admin:remediation_remediationrun_change", args=[run.pk]))
    html = page.content.decode()

    assert 'class="form-row field-blast_radius"' in html and "<dt>Rolling</dt><dd>yes</dd>" in html
    assert '"instances": ["web-1"' not in html and "&lt;b&gt;done&lt;/b&gt;" in html
    # The evidence copied from the diagnosis, in the diagnosis' sentences.
    assert "Diagnosed cause: " in html and "<dt>Root cause</dt>" not in html
    rule = admin_client.get(reverse("admin:remediation_rule_change", args=[run.rule_id]))
    assert 'name="parameters"' in rule.content.decode()  # JSON a curator edits stays JSON


def test_audit_data_reads_as_words_and_its_export_is_unchanged(admin_client, control):
    waiting_run()
    entry = AuditEntry.objects.filter(kind="run.awaiting_approval").get()

    page = admin_client.get(reverse("admin:remediation_auditentry_change", args=[entry.pk]))

    assert "<dt>Reason</dt>" in page.content.decode()
    exported = admin_client.post(
        reverse("admin:remediation_auditentry_changelist"),
        {"action": "export_jsonl", "_selected_action": [entry.pk]},
    )
    assert json.loads(exported.content)["data"] == entry.data
