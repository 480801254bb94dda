"""Proposing: matching rules to a diagnosis, creating the run, deciding whether it waits."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from knowledge import services as knowledge
from knowledge.models import Diagnosis, Pattern, Solution
from remediation import audit, events, notify, safety
from remediation.actions import Action, ActionError, action_title
from remediation.engine.common import build_action, step
from remediation.engine.executing import enqueue_execute
from remediation.engine.superseding import supersede_older_prompts
from remediation.models import (
    RISK_RANK,
    AutonomyMode,
    RemediationRun,
    RiskLevel,
    Rule,
    RunStatus,
)

logger = logging.getLogger(__name__)


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
            exception_types=exception_types(diagnosis),
        )
    ]


def exception_types(diagnosis: Diagnosis) -> set[str]:
    """The exception types behind a diagnosis: its trigger's structured exception (as the SDK
    sends it) and those its cause-class hypotheses weighed (concurrent errors included)."""
    evidence = diagnosis.evidence or {}
    found = {str(((evidence.get("trigger") or {}).get("exception") or {}).get("type") or "")}
    for hypothesis in diagnosis.hypotheses or []:
        for item in hypothesis.get("evidence") or []:
            if isinstance(item, dict) and item.get("kind") == "exception-type":
                found.add(str(item.get("type") or ""))
    return found - {""}


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
        dry_run=safety.current_settings().dry_run or rule.dry_run,
    )
    audit.record(
        "rule.matched", run=run, rule=rule, diagnosis=diagnosis.pk, signal=run.signal,
        confidence=run.confidence, threshold=run.threshold, action=run.action,
        parameters=run.parameters, preview=preview, blast_radius=radius, dry_run=run.dry_run,
    )  # fmt: skip
    events.announce("remediation.proposed", events.run_changed(run))
    step(run, f"Proposed: {preview or action_title(run.action)} ({run.risk} risk)")
    return run


def _decide(run: RemediationRun, rule: Rule) -> None:
    decision = safety.assess(run, rule)
    if decision.blocked:
        run.transition(RunStatus.REJECTED, reason=decision.blocked)
        audit.record("run.blocked", run=run, rule=rule, reason=decision.blocked)
        step(run, f"Not run: {decision.blocked}")
        return
    knowledge.start_remediation(
        run.diagnosis_id, f"Remediating: “{action_title(run.action)}” proposed"
    )
    if decision.needs_approval:
        expires = timezone.now() + RemediationRun.approval_ttl()
        run.transition(RunStatus.AWAITING_APPROVAL, reason=decision.why, expires_at=expires)
        audit.record("run.awaiting_approval", run=run, rule=rule, reason=decision.why)
        supersede_older_prompts(run)
        step(run, f"Waiting for approval: {decision.why}")
        events.announce(
            "remediation.awaiting_approval", events.run_changed(run), severity="warning"
        )
        notify.schedule("approval", knowledge.incident_for(run.diagnosis_id).pk, run_id=run.pk)
    else:
        run.transition(RunStatus.APPROVED, reason=decision.why)
        audit.record("run.auto_approved", run=run, rule=rule, reason=decision.why)
        step(run, f"Approved automatically: {decision.why}")
        enqueue_execute(run.pk)


def _solution_for(diagnosis: Diagnosis, action: str) -> Solution | None:
    for suggestion in diagnosis.suggestions or []:
        if suggestion.get("action") == action and suggestion.get("solution"):
            found = Solution.objects.filter(pk=suggestion["solution"]).first()
            if found:
                return found
    return Solution.objects.filter(problem=diagnosis.problem_id, action=action).first()
