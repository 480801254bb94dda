"""Executing: the action runs outside any transaction, after the run moved to running.

Crash safety: a delivery that finds the run still ``running`` means its worker died; such a
run is never executed again unless its action is idempotent (and nothing halts remediation)."""

from __future__ import annotations

import logging
import os
import socket
from datetime import timedelta
from typing import Any

import psutil
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from remediation import audit, events, safety
from remediation.actions import action_title, get_action
from remediation.engine.common import action_context, build_action, escalate, step
from remediation.engine.verifying import record_outcome, rollback_and_escalate
from remediation.models import (
    AttemptOutcome,
    RemediationRun,
    Rule,
    RunAttempt,
    RunStatus,
)

logger = logging.getLogger(__name__)


def enqueue_execute(run_id: int) -> None:
    from remediation.tasks import execute_run

    transaction.on_commit(lambda: execute_run.delay(run_id))


def enqueue_verify(run_id: int, countdown: int) -> None:
    from remediation.tasks import verify_run

    transaction.on_commit(lambda: verify_run.apply_async((run_id,), countdown=countdown))


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def execute(run_id: int) -> str:
    """Execute an approved run once; returns what happened (for logs and tests)."""
    run = RemediationRun.objects.get(pk=run_id)
    if run.status == RunStatus.RUNNING:
        return _recover_interrupted(run)
    if run.status != RunStatus.APPROVED:
        return f"skipped: {run.status}"
    blocker = safety.execution_blocker(run)
    if blocker:
        with transaction.atomic():
            if run.transition(RunStatus.ESCALATED, reason=blocker):
                audit.record("run.blocked", run=run, rule=run.rule_id, reason=blocker)
                events.announce("remediation.failed", events.run_changed(run, reason=blocker))
        return "blocked"
    with transaction.atomic():
        if not run.transition(RunStatus.RUNNING, executed_at=timezone.now()):
            return "skipped: another worker claimed it"
        attempt = RunAttempt.objects.create(run=run, number=1, worker=_worker_name())
        audit.record(
            "run.executing", run=run, rule=run.rule_id, action=run.action,
            parameters=run.parameters, dry_run=run.dry_run, attempt=1,
        )  # fmt: skip
    return _perform(run, attempt)


def _perform(run: RemediationRun, attempt: RunAttempt) -> str:
    # Every path that acts (a fresh execution, a resumed one) passes here: the last check.
    halted = "" if run.dry_run else safety.halt_reason()
    if halted:
        return _halt(run, attempt, halted)
    try:
        if run.dry_run:
            result: dict[str, Any] = {"dry_run": True, "would": run.preview}
        else:
            action = build_action(run.action, run.parameters, run.service, run.instance)
            result = action.execute(action_context(run))
    except Exception as exc:  # any failure of the action is the run's failure, recorded
        error = f"{type(exc).__name__}: {exc}"[:2000]
        with transaction.atomic():
            _finish_attempt(attempt, AttemptOutcome.FAILED, error)
            if not run.transition(RunStatus.FAILED, error=error):
                audit.record("run.late_result", run=run, rule=run.rule_id, error=error)
                return "late: the run was already settled"
            audit.record("run.execution_failed", run=run, rule=run.rule_id, error=error)
        record_outcome(run, succeeded=False, solution_tested=False)
        rollback_and_escalate(run, error)
        return "failed"
    with transaction.atomic():
        _finish_attempt(attempt, AttemptOutcome.SUCCEEDED, "")
        if not run.transition(RunStatus.VERIFYING, result=result):
            audit.record("run.late_result", run=run, rule=run.rule_id, result=result)
            return "late: the run was already settled"
        audit.record("run.executed", run=run, rule=run.rule_id, result=result)
        countdown = 0 if run.dry_run else Rule.objects.get(pk=run.rule_id).verify_after_seconds
        done = "Dry run of" if run.dry_run else "Executed"
        step(run, f"{done} “{action_title(run.action)}”; checking the symptom in {countdown} s")
        enqueue_verify(run.pk, countdown)
    return "verifying"


def _halt(run: RemediationRun, attempt: RunAttempt, reason: str) -> str:
    """The kill switch (or autonomy off) came between the claim and the action: nothing is
    sent; the run fails without a rollback (nothing to undo) and goes to a human."""
    error = f"not executed: {reason}"
    with transaction.atomic():
        _finish_attempt(attempt, AttemptOutcome.ABANDONED, error)
        if not run.transition(RunStatus.FAILED, error=error):
            return "late: the run was already settled"
        audit.record("run.blocked", run=run, rule=run.rule_id, reason=reason)
    escalate(run, error)
    return "blocked"


def _finish_attempt(attempt: RunAttempt, outcome: str, detail: str) -> None:
    RunAttempt.objects.filter(pk=attempt.pk, outcome=AttemptOutcome.STARTED).update(
        outcome=outcome, detail=detail[:2000], finished_at=timezone.now()
    )


def attempt_is_dead(attempt: RunAttempt | None) -> bool:
    """An attempt's worker is gone: its process no longer exists on this host, or it has
    been running longer than ``REMEDIATION_ATTEMPT_TIMEOUT_SECONDS`` (another host)."""
    if attempt is None:
        return True
    timeout = getattr(settings, "REMEDIATION_ATTEMPT_TIMEOUT_SECONDS", 900)
    if attempt.started_at < timezone.now() - timedelta(seconds=timeout):
        return True
    host, _, pid = attempt.worker.rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        return not psutil.pid_exists(int(pid))
    return False


def _recover_interrupted(run: RemediationRun) -> str:
    """A delivery found the run ``running``: recover it if its worker died mid-execution."""
    halted = "" if run.dry_run else safety.halt_reason()
    resume = get_action(run.action).idempotent and not halted
    with transaction.atomic():
        run = RemediationRun.objects.select_for_update().get(pk=run.pk)
        if run.status != RunStatus.RUNNING:
            return f"skipped: {run.status}"
        last = run.attempts.order_by("-number").first()
        if not attempt_is_dead(last):
            return "skipped: an attempt is in progress"
        number = last.number if last else 0
        if last:
            _finish_attempt(last, AttemptOutcome.ABANDONED, "worker died during execution")
        if resume:
            attempt = RunAttempt.objects.create(run=run, number=number + 1, worker=_worker_name())
            audit.record("run.resumed", run=run, rule=run.rule_id, attempt=number + 1)
        else:
            why = halted or "action not idempotent"
            reason = f"worker died mid-execution; not executed again ({why})"
            run.transition(RunStatus.FAILED, error=reason)
            audit.record("run.interrupted", run=run, rule=run.rule_id, attempt=number, why=why)
    if resume:
        return _perform(run, attempt)
    escalate(run, reason)
    return "escalated"
