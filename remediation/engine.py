"""The remediation engine: every change to a run goes through a function here.

Each function changes rows in one transaction (state by conditional UPDATE, an audit entry,
a transition row), then emits events and enqueues tasks *on commit*. Network calls to the
managed service happen outside transactions. Views, tasks, the agent and the admin call
these functions and never save runs themselves.

Crash safety of execution: the run is moved to ``running`` and an attempt row committed
*before* the action executes. ``execute_run`` is enqueued once, by whoever won the move to
``approved``; a delivery that finds the run still ``running`` therefore means the worker
that owned it died (Celery re-delivers with late ack). Such a run is never executed again
unless its action is idempotent; otherwise it is failed and escalated to a human.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import timedelta
from typing import Any

import psutil
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from knowledge import services as knowledge
from knowledge.models import Diagnosis, DiagnosisStatus, Pattern, Solution, SolutionSource
from remediation import audit, events, safety, verification
from remediation.actions import Action, ActionContext, ActionError, get_action
from remediation.metrics import observe_verified
from remediation.models import (
    APPROVE_PERMISSION,
    RISK_RANK,
    Approval,
    AttemptOutcome,
    AutonomyMode,
    Decision,
    RemediationRun,
    RiskLevel,
    Rule,
    RunAttempt,
    RunStatus,
)

logger = logging.getLogger(__name__)


class ApprovalError(Exception):
    """The decision cannot be taken (not awaiting approval, expired, already decided)."""


# --- Proposing ---------------------------------------------------------------------------------


def matching_rules(diagnosis: Diagnosis) -> list[Rule]:
    problem = diagnosis.problem
    rules = list(Rule.objects.filter(enabled=True))
    names = [r.pattern_name for r in rules if r.pattern_name]
    pattern_signals = {
        name: (matcher or {}).get("signal", "")
        for name, matcher in Pattern.objects.filter(name__in=names).values_list("name", "matcher")
    }
    return [
        r
        for r in rules
        if r.matches(
            signal=diagnosis.signal or problem.signal,
            fingerprint=problem.fingerprint,
            category=problem.category,
            service=diagnosis.service,
            instance=diagnosis.instance,
            pattern_signals=pattern_signals,
        )
    ]


def propose_for_diagnosis(diagnosis_id: int) -> list[RemediationRun]:
    """Propose one run per matching rule (idempotent: a redelivered diagnosis adds none)."""
    diagnosis = Diagnosis.objects.select_related("problem").filter(pk=diagnosis_id).first()
    if diagnosis is None:
        return []
    if safety.current_settings().autonomy_mode == AutonomyMode.OFF:
        return []
    runs = []
    for rule in matching_rules(diagnosis):
        run = propose(diagnosis, rule)
        if run is not None:
            runs.append(run)
    return runs


def build_action(action: str, parameters: dict[str, Any], service: str, instance: str) -> Action:
    return get_action(action)(parameters, service=service, instance=instance)


def propose(diagnosis: Diagnosis, rule: Rule) -> RemediationRun | None:
    if RemediationRun.objects.filter(diagnosis=diagnosis, rule=rule).exists():
        return None
    if diagnosis.confidence < rule.effective_threshold:
        audit.record(
            "rule.below_threshold", rule=rule, diagnosis=diagnosis.pk,
            confidence=diagnosis.confidence, threshold=rule.effective_threshold,
        )  # fmt: skip
        return None
    try:
        action = build_action(rule.action, rule.parameters, diagnosis.service, diagnosis.instance)
        preview, radius = action.dry_run(), action.blast_radius()
    except ActionError as exc:
        audit.record("rule.invalid", rule=rule, diagnosis=diagnosis.pk, error=str(exc))
        return None
    try:
        with transaction.atomic():
            run = _create_run(diagnosis, rule, action, preview, radius)
            _decide(run, run.rule)  # the row locked by _create_run, not a stale copy
    except IntegrityError:
        return None  # another worker proposed it first (one run per diagnosis and rule)
    return run


def _create_run(
    diagnosis: Diagnosis, rule: Rule, action: Action, preview: str, radius: dict[str, Any]
) -> RemediationRun:
    # Serialise proposals per rule and per service so budgets are counted one at a time.
    rule = Rule.objects.select_for_update().get(pk=rule.pk)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"rem:{diagnosis.service}"])
    # The higher of the rule's and the action's own risk: a rule cannot make a command "low".
    risk = max(RiskLevel(rule.risk), RiskLevel(action.risk), key=RISK_RANK.__getitem__)
    two = risk == RiskLevel.CRITICAL and getattr(
        settings, "REMEDIATION_CRITICAL_NEEDS_TWO_APPROVERS", True
    )
    run = RemediationRun.objects.create(
        rule=rule,
        diagnosis=diagnosis,
        solution=_solution_for(diagnosis, rule.action),
        service=diagnosis.service,
        instance=diagnosis.instance,
        signal=diagnosis.signal,
        action=rule.action,
        parameters=action.params.model_dump(mode="json"),
        risk=risk,
        confidence=diagnosis.confidence,
        threshold=rule.effective_threshold,
        approvals_required=2 if two else 1,
        preview=preview,
        blast_radius=radius,
        evidence={"root_cause": diagnosis.root_cause, **(diagnosis.evidence or {})},
        dry_run=safety.current_settings().dry_run,
    )
    audit.record(
        "rule.matched", run=run, rule=rule, diagnosis=diagnosis.pk, signal=run.signal,
        confidence=run.confidence, threshold=run.threshold, action=run.action,
        parameters=run.parameters, preview=preview, blast_radius=radius, dry_run=run.dry_run,
    )  # fmt: skip
    events.announce("remediation.proposed", events.run_changed(run))
    return run


def _decide(run: RemediationRun, rule: Rule) -> None:
    decision = safety.assess(run, rule)
    if decision.blocked:
        run.transition(RunStatus.REJECTED, reason=decision.blocked)
        audit.record("run.blocked", run=run, rule=rule, reason=decision.blocked)
        return
    Diagnosis.objects.filter(pk=run.diagnosis_id, status=DiagnosisStatus.OPEN).update(
        status=DiagnosisStatus.REMEDIATING
    )
    if decision.needs_approval:
        expires = timezone.now() + RemediationRun.approval_ttl()
        run.transition(RunStatus.AWAITING_APPROVAL, reason=decision.why, expires_at=expires)
        audit.record("run.awaiting_approval", run=run, rule=rule, reason=decision.why)
        events.announce(
            "remediation.awaiting_approval", events.run_changed(run), severity="warning"
        )
    else:
        run.transition(RunStatus.APPROVED, reason=decision.why)
        audit.record("run.auto_approved", run=run, rule=rule, reason=decision.why)
        enqueue_execute(run.pk)


def _solution_for(diagnosis: Diagnosis, action: str) -> Solution | None:
    for suggestion in diagnosis.suggestions or []:
        if suggestion.get("action") == action and suggestion.get("solution"):
            found = Solution.objects.filter(pk=suggestion["solution"]).first()
            if found:
                return found
    return Solution.objects.filter(problem=diagnosis.problem_id, action=action).first()


# --- Approvals ---------------------------------------------------------------------------------


def _require_permission(user: Any) -> None:
    if not (user and user.is_authenticated and user.has_perm(APPROVE_PERMISSION)):
        raise PermissionDenied(f"approving remediation runs needs {APPROVE_PERMISSION}")


def approve(run: RemediationRun | int, user: Any) -> RemediationRun:
    """Record an approval; the one that completes the quorum moves the run to approved and
    enqueues its execution. Concurrent approvers are serialised by the row lock."""
    _require_permission(user)
    expired = False
    with transaction.atomic():
        locked = RemediationRun.objects.select_for_update().get(pk=getattr(run, "pk", run))
        if locked.status != RunStatus.AWAITING_APPROVAL:
            raise ApprovalError(f"run {locked.pk} is {locked.status}, not awaiting approval")
        if locked.is_expired():
            expired = _expire(locked)
        else:
            if locked.approvals.filter(user=user).exists():
                raise ApprovalError("you already decided on this run")
            Approval.objects.create(run=locked, user=user, decision=Decision.APPROVE)
            count = locked.approvals.filter(decision=Decision.APPROVE).count()
            audit.record(
                "run.approval", run=locked, rule=locked.rule_id, actor=user,
                approvals=count, required=locked.approvals_required,
            )  # fmt: skip
            if count >= locked.approvals_required:
                locked.transition(RunStatus.APPROVED, actor=user, reason="approved")
                # Every operator's screen hears the decision, not only the one who clicked.
                events.announce("remediation.approved", events.run_changed(locked))
                enqueue_execute(locked.pk)
    if expired:
        raise ApprovalError(f"run {locked.pk} expired before it was approved")
    return locked


def reject(run: RemediationRun | int, user: Any, reason: str = "") -> RemediationRun:
    _require_permission(user)
    with transaction.atomic():
        locked = RemediationRun.objects.select_for_update().get(pk=getattr(run, "pk", run))
        if locked.status != RunStatus.AWAITING_APPROVAL:
            raise ApprovalError(f"run {locked.pk} is {locked.status}, not awaiting approval")
        if locked.approvals.filter(user=user).exists():
            raise ApprovalError("you already decided on this run")
        Approval.objects.create(run=locked, user=user, decision=Decision.REJECT, reason=reason)
        locked.transition(RunStatus.REJECTED, actor=user, reason=reason or "rejected")
        _reopen_diagnosis(locked)
        audit.record("run.rejected", run=locked, rule=locked.rule_id, actor=user, reason=reason)
        events.announce("remediation.rejected", events.run_changed(locked))
    return locked


def _expire(run: RemediationRun) -> bool:
    if run.transition(RunStatus.EXPIRED, reason="no decision in time"):
        _reopen_diagnosis(run)
        audit.record("run.expired", run=run, rule=run.rule_id, expires_at=str(run.expires_at))
        events.announce("remediation.expired", events.run_changed(run))
        return True
    return False


def expire_due() -> int:
    """Expire runs whose approval window passed; returns how many this call expired."""
    expired = 0
    due = RemediationRun.objects.filter(
        status=RunStatus.AWAITING_APPROVAL, expires_at__lte=timezone.now()
    )
    for run in due:
        with transaction.atomic():
            expired += _expire(run)
    return expired


# --- Executing ---------------------------------------------------------------------------------


def enqueue_execute(run_id: int) -> None:
    from remediation.tasks import execute_run

    transaction.on_commit(lambda: execute_run.delay(run_id))


def enqueue_verify(run_id: int, countdown: int) -> None:
    from remediation.tasks import verify_run

    transaction.on_commit(lambda: verify_run.apply_async((run_id,), countdown=countdown))


def _context(run: RemediationRun) -> ActionContext:
    return ActionContext(
        run_id=run.pk, service=run.service, instance=run.instance, signal=run.signal,
        result=dict(run.result or {}),
    )  # fmt: skip


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
            result = action.execute(_context(run))
    except Exception as exc:  # any failure of the action is the run's failure, recorded
        error = f"{type(exc).__name__}: {exc}"[:2000]
        with transaction.atomic():
            _finish_attempt(attempt, AttemptOutcome.FAILED, error)
            if not run.transition(RunStatus.FAILED, error=error):
                audit.record("run.late_result", run=run, rule=run.rule_id, error=error)
                return "late: the run was already settled"
            audit.record("run.execution_failed", run=run, rule=run.rule_id, error=error)
        _record_outcome(run, succeeded=False, solution_tested=False)
        _rollback_and_escalate(run, error)
        return "failed"
    with transaction.atomic():
        _finish_attempt(attempt, AttemptOutcome.SUCCEEDED, "")
        if not run.transition(RunStatus.VERIFYING, result=result):
            audit.record("run.late_result", run=run, rule=run.rule_id, result=result)
            return "late: the run was already settled"
        audit.record("run.executed", run=run, rule=run.rule_id, result=result)
        countdown = 0 if run.dry_run else Rule.objects.get(pk=run.rule_id).verify_after_seconds
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
    _escalate(run, error)
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
    _escalate(run, reason)
    return "escalated"


# --- Verifying, rolling back, learning ---------------------------------------------------------


def verify(run_id: int) -> str:
    """Did the triggering signal recover? Succeed, or fail, roll back and escalate."""
    run = RemediationRun.objects.select_related("diagnosis").get(pk=run_id)
    if run.status != RunStatus.VERIFYING:
        return f"skipped: {run.status}"
    if run.dry_run:
        recovered, detail = True, "dry run: nothing was executed"
    else:
        recovered, detail = _verdict(run)
    with transaction.atomic():
        status = RunStatus.SUCCEEDED if recovered else RunStatus.FAILED
        if not run.transition(status, reason=detail, error="" if recovered else detail):
            return "skipped: already verified"
        audit.record("run.verified", run=run, rule=run.rule_id, recovered=recovered, detail=detail)
        if recovered and not run.dry_run:
            # A recurrence after a verified fix is a new incident with its own diagnosis.
            Diagnosis.objects.filter(pk=run.diagnosis_id).update(status=DiagnosisStatus.RESOLVED)
        if recovered:
            events.announce("remediation.succeeded", events.run_changed(run, detail=detail))
    observe_verified(
        succeeded=recovered, dry_run=run.dry_run,
        detected_at=run.diagnosis.created_at, now=timezone.now(),
    )  # fmt: skip
    if not run.dry_run:
        _record_outcome(run, succeeded=recovered)
    if recovered:
        return "succeeded"
    _rollback_and_escalate(run, detail)
    return "escalated"


def _verdict(run: RemediationRun) -> tuple[bool, str]:
    try:
        action = build_action(run.action, run.parameters, run.service, run.instance)
        own = action.verify(_context(run))
    except Exception as exc:
        return False, f"verification failed: {type(exc).__name__}: {exc}"
    if own is not None:
        return own, "the action verified itself"
    return verification.signal_recovered(run)


def _record_outcome(run: RemediationRun, *, succeeded: bool, solution_tested: bool = True) -> None:
    """Feed the outcome back: solution statistics, the rule's circuit and threshold.

    Separate transactions, each taking the audit lock last: a transaction that held the
    audit lock while waiting for a rule row could deadlock with a proposal (rule, then audit).
    """
    if solution_tested and run.solution_id:
        with transaction.atomic():
            solution = knowledge.record_solution_outcome(run.solution, succeeded)
            if not succeeded:
                # Failures weaken the problem -> solution edge in the graph (weights average).
                knowledge.link(run.diagnosis.problem, "solved_by", solution, weight=0.0)
            audit.record(
                "solution.outcome", run=run, rule=run.rule_id, solution=solution.pk,
                succeeded=succeeded, successes=solution.successes, failures=solution.failures,
            )  # fmt: skip
    if succeeded:
        _learn_solution(run)
    safety.record_rule_outcome(run.rule_id, succeeded)
    adjust_threshold(run.rule_id, succeeded, run_id=run.pk)


def _learn_solution(run: RemediationRun) -> None:
    """A verified fix becomes a solution of the problem it was diagnosed on, when that
    problem (one learned from traffic, typically) has no solution with this action yet: the
    next diagnosis of it then suggests what is proven to work, with its own success count."""
    problem = run.diagnosis.problem
    if Solution.objects.filter(problem=problem, action=run.action).exists():
        return
    with transaction.atomic():
        solution, created = knowledge.add_solution(
            problem, get_action(run.action).title, action=run.action,
            parameters=run.parameters, source=SolutionSource.LEARNED,
            steps=f"Learned from remediation run {run.pk}: {run.preview}",
        )  # fmt: skip
        if created:
            knowledge.record_solution_outcome(solution, True)
            audit.record("solution.learned", run=run, rule=run.rule_id, solution=solution.pk)


def adjust_threshold(rule_id: int, succeeded: bool, *, run_id: int | None = None) -> float:
    """Success lowers the rule's effective threshold a step, failure raises it, within bounds."""
    with transaction.atomic():
        rule = Rule.objects.select_for_update().get(pk=rule_id)
        step = -rule.threshold_step if succeeded else rule.threshold_step
        new = round(
            min(rule.threshold_max, max(rule.threshold_min, rule.effective_threshold + step)), 4
        )
        if new != rule.effective_threshold:
            audit.record(
                "threshold.changed", run=run_id, rule=rule, old=rule.effective_threshold,
                new=new, succeeded=succeeded,
            )  # fmt: skip
            Rule.objects.filter(pk=rule_id).update(effective_threshold=new)
    return new


def _rollback_and_escalate(run: RemediationRun, reason: str) -> None:
    halted = safety.halt_reason()  # a rollback acts on the service too
    if halted and get_action(run.action).supports_rollback and not run.dry_run:
        audit.record("run.rollback_skipped", run=run, rule=run.rule_id, reason=halted)
        reason = f"{reason}; not rolled back: {halted}"
    elif get_action(run.action).supports_rollback and not run.dry_run:
        try:
            action = build_action(run.action, run.parameters, run.service, run.instance)
            result = action.rollback(_context(run))
        except Exception as exc:
            audit.record("run.rollback_failed", run=run, rule=run.rule_id, error=str(exc)[:2000])
        else:
            with transaction.atomic():
                if run.transition(RunStatus.ROLLED_BACK, result={**run.result, "rollback": result}):
                    audit.record("run.rolled_back", run=run, rule=run.rule_id, result=result)
                    events.announce(
                        "remediation.rolled_back", events.run_changed(run), severity="warning"
                    )
    _escalate(run, reason)


def _escalate(run: RemediationRun, reason: str) -> None:
    with transaction.atomic():
        if run.transition(RunStatus.ESCALATED, reason=f"needs a human: {reason}"[:500]):
            _reopen_diagnosis(run)
            audit.record("run.escalated", run=run, rule=run.rule_id, reason=reason)
            events.announce(
                "remediation.failed", events.run_changed(run, reason=reason), severity="error"
            )


def _reopen_diagnosis(run: RemediationRun) -> None:
    """Nothing fixed it: the diagnosis is open again (for people, and for the next run)."""
    Diagnosis.objects.filter(pk=run.diagnosis_id, status=DiagnosisStatus.REMEDIATING).update(
        status=DiagnosisStatus.OPEN
    )
