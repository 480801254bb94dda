"""What the engine's steps share: building an action, its context, escalating a run."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from knowledge import services as knowledge
from remediation import audit, events
from remediation.actions import Action, ActionContext, action_title, get_action
from remediation.models import (
    RemediationRun,
    RunStatus,
)

logger = logging.getLogger(__name__)


def build_action(action: str, parameters: dict[str, Any], service: str, instance: str) -> Action:
    return get_action(action)(parameters, service=service, instance=instance)


def action_context(run: RemediationRun) -> ActionContext:
    return ActionContext(
        run_id=run.pk, service=run.service, instance=run.instance, signal=run.signal,
        result=dict(run.result or {}),
    )  # fmt: skip


def escalate(run: RemediationRun, reason: str) -> None:
    with transaction.atomic():
        if run.transition(RunStatus.ESCALATED, reason=f"needs a human: {reason}"[:500]):
            reopen_incident(
                run, f"Needs a human: “{action_title(run.action)}” did not fix it ({reason})"
            )
            audit.record("run.escalated", run=run, rule=run.rule_id, reason=reason)
            events.announce(
                "remediation.failed", events.run_changed(run, reason=reason), severity="error"
            )


def reopen_incident(run: RemediationRun, reason: str) -> None:
    """Nothing fixed it: the incident is open for people again (and for the next run)."""
    knowledge.remediation_failed(run.diagnosis_id, reason)


def step(run: RemediationRun, text: str, actor: Any = None) -> None:
    """One of the run's steps on its incident's timeline."""
    knowledge.record_step(run.diagnosis_id, text, run_id=run.pk, actor=actor)
