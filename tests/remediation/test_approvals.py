"""Approvals: the permission, the HTTP endpoints (CSRF, login, 403), expiry, two approvers
for critical risk, and two simultaneous approvals producing one execution."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from agents import mesh
from remediation import engine
from remediation.models import Approval, AuditEntry, RemediationRun, RunAttempt, RunStatus
from tests.remediation.conftest import make_diagnosis, make_rule

pytestmark = pytest.mark.django_db(transaction=True)


def waiting_run(**rule_fields) -> RemediationRun:
    signal = f"signal_{RemediationRun.objects.count()}"
    make_rule(action="clear_cache", requires_approval=True, signal=signal, **rule_fields)
    [run] = engine.propose_for_diagnosis(make_diagnosis(signal).pk)
    run.refresh_from_db()
    assert run.status == RunStatus.AWAITING_APPROVAL
    return run


def test_a_run_needing_approval_waits_with_preview_and_expiry(control):
    run = waiting_run()

    assert "Clear keys" in run.preview
    assert run.expires_at > timezone.now()
    assert control.requests == []
    [waiting] = [d.event.payload for d in mesh.replay("remediation.awaiting_approval")]
    assert waiting["run"] == run.pk and waiting["preview"] == run.preview


def test_approval_executes_the_run_and_is_attributed(control, approver):
    run = waiting_run()

    engine.approve(run, approver)

    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    approved = run.transitions.get(to_status="approved")
    assert approved.actor == approver
    assert AuditEntry.objects.get(kind="run.approval").actor == "alice"
    assert control.operations() == ["clear_cache"]
    # The decision streams to every operator's screen (the dashboard relay listens).
    [approved_event] = [d.event.payload for d in mesh.replay("remediation.approved")]
    assert approved_event["run"] == run.pk


def test_a_user_without_the_permission_cannot_approve(control, viewer):
    run = waiting_run()

    with pytest.raises(PermissionDenied):
        engine.approve(run, viewer)
    with pytest.raises(PermissionDenied):
        engine.reject(run, viewer, "no")

    run.refresh_from_db()
    assert run.status == RunStatus.AWAITING_APPROVAL


def test_rejection_is_final_and_attributed(control, approver):
    run = waiting_run()

    engine.reject(run, approver, "not during the sale")

    run.refresh_from_db()
    assert run.status == RunStatus.REJECTED
    assert run.transitions.get(to_status="rejected").reason == "not during the sale"
    assert [d.event.payload["run"] for d in mesh.replay("remediation.rejected")] == [run.pk]
    with pytest.raises(engine.ApprovalError):
        engine.approve(run, approver)
    assert control.requests == []


def test_an_expired_run_cannot_be_approved(control, approver):
    run = waiting_run()
    RemediationRun.objects.filter(pk=run.pk).update(expires_at=timezone.now() - timedelta(1))

    with pytest.raises(engine.ApprovalError, match="expired"):
        engine.approve(run, approver)

    run.refresh_from_db()
    assert run.status == RunStatus.EXPIRED
    assert control.requests == []


def test_expire_due_expires_only_runs_past_their_window(control):
    late, fresh = waiting_run(), waiting_run()
    RemediationRun.objects.filter(pk=late.pk).update(expires_at=timezone.now() - timedelta(1))

    assert engine.expire_due() == 1

    late.refresh_from_db(), fresh.refresh_from_db()
    assert (late.status, fresh.status) == (RunStatus.EXPIRED, RunStatus.AWAITING_APPROVAL)


def test_critical_risk_needs_two_different_approvers(control, approver, second_approver):
    run = waiting_run(risk="critical")
    assert run.approvals_required == 2

    engine.approve(run, approver)
    run.refresh_from_db()
    assert run.status == RunStatus.AWAITING_APPROVAL
    with pytest.raises(engine.ApprovalError, match="already decided"):
        engine.approve(run, approver)

    engine.approve(run, second_approver)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED


def test_two_simultaneous_approvals_execute_once(control, approver, second_approver):
    run = waiting_run()
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def click(user) -> None:
        try:
            barrier.wait()
            engine.approve(run.pk, user)
            outcomes.append("approved")
        except engine.ApprovalError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=click, args=(u,)) for u in (approver, second_approver)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    assert sorted(outcomes) == ["approved", "refused"]
    assert Approval.objects.filter(run=run).count() == 1
    assert RunAttempt.objects.filter(run=run).count() == 1
    assert control.operations() == ["clear_cache"]


# --- HTTP endpoints ------------------------------------------------------------------------


def url(run: RemediationRun, verb: str = "approve") -> str:
    return reverse(f"remediation:{verb}", args=[run.pk])


def test_the_endpoint_approves_for_a_permitted_user(control, approver, client):
    run = waiting_run()
    client.force_login(approver)

    response = client.post(url(run))

    assert response.status_code == 200
    assert response.json() == {"run": run.pk, "status": "approved"}
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED  # executed on commit (eager Celery here)


def test_the_endpoint_refuses_a_user_without_the_permission(control, viewer, client):
    run = waiting_run()
    client.force_login(viewer)

    assert client.post(url(run)).status_code == 403
    assert client.post(url(run, "reject")).status_code == 403


def test_the_endpoint_sends_anonymous_users_to_log_in(control, client):
    run = waiting_run()

    response = client.post(url(run))

    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_endpoint_requires_post_and_a_csrf_token(control, approver):
    run = waiting_run()
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(approver)

    assert browser.get(url(run)).status_code == 405
    assert browser.post(url(run)).status_code == 403  # no CSRF token
    run.refresh_from_db()
    assert run.status == RunStatus.AWAITING_APPROVAL


def test_the_endpoint_says_conflict_when_already_decided(control, approver, client):
    run = waiting_run()
    engine.reject(run, approver, "no")
    client.force_login(approver)

    assert client.post(url(run)).status_code == 409


def test_the_reject_endpoint_records_the_reason(control, approver, client):
    run = waiting_run()
    client.force_login(approver)

    response = client.post(url(run, "reject"), {"reason": "risky"})

    assert response.json()["status"] == "rejected"
    assert Approval.objects.get(run=run).reason == "risky"
