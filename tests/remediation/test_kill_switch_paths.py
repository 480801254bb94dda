"""The kill switch and autonomy 'off' hold on every path that acts, recovery included."""

from __future__ import annotations

import socket

import pytest

from remediation import engine
from remediation.engine import executing, verifying
from remediation.models import AuditEntry, RunAttempt, RunStatus
from tests.remediation.conftest import set_safety
from tests.remediation.test_execution import dead_pid, left_running, statuses

pytestmark = pytest.mark.django_db(transaction=True)


def dead_worker() -> str:
    return f"{socket.gethostname()}:{dead_pid()}"


def test_it_does_not_resume_an_idempotent_run_of_a_dead_worker_under_the_kill_switch(control):
    run = left_running(control, "clear_cache", dead_worker())
    set_safety(kill_switch=True)

    outcome = engine.execute(run.pk)  # the redelivered task after the worker died

    run.refresh_from_db()
    assert outcome == "escalated"
    assert control.requests == []  # the control API received nothing at all
    assert statuses(run)[-2:] == ["failed", "escalated"]
    assert "kill switch is on" in run.error
    assert list(run.attempts.values_list("number", "outcome")) == [(1, "abandoned")]
    assert AuditEntry.objects.filter(kind="run.interrupted", run_id=run.pk).exists()


def test_it_does_not_resume_a_run_of_a_dead_worker_with_autonomy_off(control):
    run = left_running(control, "clear_cache", dead_worker())
    set_safety(autonomy_mode="off")

    assert engine.execute(run.pk) == "escalated"

    run.refresh_from_db()
    assert control.requests == [] and "autonomy is off" in run.error


def test_it_resumes_the_same_run_once_the_kill_switch_is_off(control):
    run = left_running(control, "clear_cache", dead_worker())

    engine.execute(run.pk)

    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert control.operations() == ["clear_cache"]


def test_a_kill_switch_between_claim_and_action_sends_nothing(control):
    run = left_running(control, "restart_service", dead_worker())
    attempt = RunAttempt.objects.get(run=run)
    set_safety(kill_switch=True)

    assert executing._perform(run, attempt) == "blocked"

    run.refresh_from_db()
    attempt.refresh_from_db()
    assert control.requests == []
    assert attempt.outcome == "abandoned"
    assert statuses(run)[-2:] == ["failed", "escalated"]


def test_a_failed_run_is_not_rolled_back_under_the_kill_switch(control):
    run = left_running(control, "scale_out", dead_worker())
    run.transition(RunStatus.FAILED, error="verification failed")
    set_safety(kill_switch=True)

    verifying.rollback_and_escalate(run, "verification failed")

    run.refresh_from_db()
    assert control.requests == []
    assert run.status == RunStatus.ESCALATED
    assert AuditEntry.objects.filter(kind="run.rollback_skipped", run_id=run.pk).exists()
