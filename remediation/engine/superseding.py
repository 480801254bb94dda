"""Approval prompts follow their incident.

A prompt (a run awaiting approval) is superseded, and says by what, when

* its incident resolves (a verified fix, or on-call resolving it by hand): nothing is left
  to approve; a receiver of ``knowledge.signals.incident_changed`` does this, so every way
  of resolving (dashboard, API, admin, the engine) is covered;
* a newer identical proposal arrives (same cause -- its signal, or its problem when it has
  none -- on the same service, same action and parameters): the newer one
  carries the current evidence, so there are never two live prompts for one action. The
  older prompt's incident went quiet (the diagnostic agent would otherwise have added to
  it), so it is resolved as folded into the newer one.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.dispatch import receiver

from knowledge import services as knowledge
from knowledge.models import Incident
from knowledge.signals import incident_changed
from remediation import audit, events
from remediation.engine.common import step
from remediation.models import RemediationRun, RunStatus


def supersede(run: RemediationRun, reason: str) -> bool:
    with transaction.atomic():
        if not run.transition(RunStatus.SUPERSEDED, reason=reason[:500]):
            return False
        audit.record("run.superseded", run=run, rule=run.rule_id, reason=reason)
        events.announce("remediation.superseded", events.run_changed(run, reason=reason))
        step(run, f"Approval prompt superseded: {reason}")
    return True


def supersede_older_prompts(run: RemediationRun) -> int:
    """Supersede live prompts for the same action on the same cause and service."""
    same_cause = (
        {"signal": run.signal}
        if run.signal
        else {"diagnosis__problem_id": run.diagnosis.problem_id}
    )
    older = (
        RemediationRun.objects.select_for_update()
        .filter(
            status=RunStatus.AWAITING_APPROVAL,
            service=run.service,
            action=run.action,
            parameters=run.parameters,
            **same_cause,
        )
        .exclude(pk=run.pk)
        .order_by("pk")
    )
    count = 0
    for old in older:
        same = old.diagnosis_id == run.diagnosis_id
        where = "" if same else " on a newer incident of the same cause"
        count += supersede(old, f"a newer identical proposal (run {run.pk}{where}) replaces it")
        if not same:
            incident = knowledge.incident_for(old.diagnosis_id)
            new = knowledge.incident_for(run.diagnosis_id)
            if incident.is_open:
                knowledge.resolve(
                    incident, note=f"Folded into incident {new.pk}: the same cause came back"
                )
    return count


@receiver(incident_changed, sender=Incident, dispatch_uid="remediation.prompts_follow_incident")
def supersede_prompts_of_resolved(
    sender: type[Incident], incident: Incident, change: str, **_: Any
) -> None:
    if change != "resolved":
        return
    live = RemediationRun.objects.filter(
        diagnosis_id=incident.diagnosis_id, status=RunStatus.AWAITING_APPROVAL
    )
    for run in live:
        how = incident.resolution or "resolved"
        supersede(run, f"its incident was resolved ({how})")
