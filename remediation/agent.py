"""RemediationAgent: turns ``diagnosis.ready`` into proposed runs, and keeps runs moving.

Handling is idempotent by construction (one run per diagnosis and rule, a unique
constraint), so a redelivered diagnosis proposes nothing new. The tick expires stale
approvals and re-enqueues work whose task was lost (an approved run never picked up, a
verification past due), which the engine's conditional transitions make safe to repeat.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from agents.mesh import Delivery
from agents.runtime import BaseAgent, register_agent
from agents.system_events import DiagnosisReady
from remediation import engine
from remediation.models import RemediationRun, Rule, RunStatus

STUCK_AFTER = timedelta(minutes=2)


@register_agent
class RemediationAgent(BaseAgent):
    name = "remediation"
    kind = "remediation"
    version = "1"
    description = "Matches diagnoses to rules, applies safety, runs, verifies and rolls back."
    subscribes = ("diagnosis.ready",)
    tick_seconds = 30.0
    batch_size = 50

    def handle(self, deliveries: list[Delivery]) -> None:
        for delivery in deliveries:
            ready = DiagnosisReady.model_validate(delivery.event.payload)
            self.activity = f"proposing for diagnosis {ready.diagnosis}"
            engine.propose_for_diagnosis(ready.diagnosis)

    def tick(self) -> None:
        engine.expire_due()
        now = timezone.now()
        from remediation.tasks import execute_run, verify_run

        stuck = RemediationRun.objects.filter(
            status=RunStatus.APPROVED, updated_at__lt=now - STUCK_AFTER
        ).values_list("pk", flat=True)
        for run_id in stuck:
            execute_run.delay(run_id)
        windows = dict(Rule.objects.values_list("pk", "verify_after_seconds"))
        verifying = RemediationRun.objects.filter(status=RunStatus.VERIFYING)
        for run_id, rule_id, updated in verifying.values_list("pk", "rule_id", "updated_at"):
            if updated + timedelta(seconds=windows.get(rule_id, 0)) + STUCK_AFTER < now:
                verify_run.delay(run_id)
