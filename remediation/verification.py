"""Did the triggering signal recover after an action? Read from three sources.

1. The managed service's control API health report (``GET /control/health``): unhealthy,
   or the run's signal still counted in its ``signals``, means not recovered.
2. New sightings of the diagnosed problem on the service after the action settled (the
   knowledge graph's occurrences).
3. New anomalies tied to the problem after the action settled.

No evidence of the problem after the action counts as recovered: verification runs after
the rule's watch window, so silence over that window is the recovery we wanted.
"""

from __future__ import annotations

from datetime import timedelta

from agents.models import Anomaly
from knowledge.models import Occurrence
from remediation.actions import control
from remediation.models import RemediationRun, Rule


def settled_since(run: RemediationRun) -> object:
    """Sightings in the first quarter of the window may be in flight from before the fix."""
    window = Rule.objects.filter(pk=run.rule_id).values_list("verify_after_seconds", flat=True)
    start = run.executed_at or run.created_at
    return start + timedelta(seconds=(window.first() or 0) // 4)


def signal_recovered(run: RemediationRun) -> tuple[bool, str]:
    report = control.health(run.service)
    if report is not None:
        if report.get("status") == "unhealthy":
            return False, "the control API reports the service unhealthy"
        still = (report.get("signals") or {}).get(run.signal, 0) if run.signal else 0
        if still:
            return False, f"the control API still reports {run.signal} ({still}/min)"
    since = settled_since(run)
    problem_id = run.diagnosis.problem_id
    if Occurrence.objects.filter(problem_id=problem_id, service=run.service, last_at__gt=since):
        return False, "the problem occurred again after the action"
    if Anomaly.objects.filter(problem_id=problem_id, detected_at__gt=since).exists():
        return False, "a new anomaly of the problem after the action"
    source = "control API healthy" if report is not None else "no control API report"
    return True, f"no new occurrences since the action; {source}"
