"""Verifying, rolling back and learning: did the fix work, and what it teaches."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from knowledge import services as knowledge
from knowledge.models import Solution, SolutionSource
from remediation import audit, events, safety, verification
from remediation.actions import action_title, get_action
from remediation.engine.common import action_context, build_action, escalate, step
from remediation.metrics import observe_verified
from remediation.models import (
    RemediationRun,
    Rule,
    RunStatus,
)

logger = logging.getLogger(__name__)


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
        step(run, f"Verified: {detail}" if recovered else f"Verification failed: {detail}")
        if recovered and not run.dry_run:
            # A recurrence after a verified fix is a new incident with its own diagnosis.
            fixed_by = f"Fixed by “{action_title(run.action)}”: {detail}"
            knowledge.resolve_diagnosis(run.diagnosis_id, fixed_by)
        if recovered:
            events.announce("remediation.succeeded", events.run_changed(run, detail=detail))
    observe_verified(
        succeeded=recovered, dry_run=run.dry_run,
        detected_at=run.diagnosis.created_at, now=timezone.now(),
    )  # fmt: skip
    if not run.dry_run:
        record_outcome(run, succeeded=recovered)
    if recovered:
        return "succeeded"
    rollback_and_escalate(run, detail)
    return "escalated"


def _verdict(run: RemediationRun) -> tuple[bool, str]:
    try:
        action = build_action(run.action, run.parameters, run.service, run.instance)
        own = action.verify(action_context(run))
    except Exception as exc:
        return False, f"verification failed: {type(exc).__name__}: {exc}"
    if own is not None:
        return own, "the action verified itself"
    return verification.signal_recovered(run)


def record_outcome(run: RemediationRun, *, succeeded: bool, solution_tested: bool = True) -> None:
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


def rollback_and_escalate(run: RemediationRun, reason: str) -> None:
    halted = safety.halt_reason()  # a rollback acts on the service too
    try:
        action = build_action(run.action, run.parameters, run.service, run.instance)
        reversible = action.can_roll_back() and not run.dry_run
    except Exception as exc:  # e.g. the command left the allow-list since the run
        audit.record("run.rollback_failed", run=run, rule=run.rule_id, error=str(exc)[:2000])
        reversible = False
    if halted and reversible:
        audit.record("run.rollback_skipped", run=run, rule=run.rule_id, reason=halted)
        reason = f"{reason}; not rolled back: {halted}"
    elif reversible:
        try:
            result = action.rollback(action_context(run))
        except Exception as exc:
            audit.record("run.rollback_failed", run=run, rule=run.rule_id, error=str(exc)[:2000])
        else:
            with transaction.atomic():
                if run.transition(RunStatus.ROLLED_BACK, result={**run.result, "rollback": result}):
                    audit.record("run.rolled_back", run=run, rule=run.rule_id, result=result)
                    events.announce(
                        "remediation.rolled_back", events.run_changed(run), severity="warning"
                    )
    escalate(run, reason)
