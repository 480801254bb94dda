"""Did the symptom the run was fixing go away? Read from three sources.

The question is about *this incident*, never the service's whole health: a new, unrelated
fault hitting the same service during the watch window opens its own incident and must not
fail a fix that worked. The incident's symptom is its signals (the run's, the diagnosis',
and those of the problems that corroborated it) and its problems, on the run's service.

1. The managed service's control API health report (``GET /control/health``): one of the
   incident's signals still counted in its ``signals`` means not recovered. Its overall
   status counts only for an incident with no known signal (nothing narrower to check).
2. New sightings of the incident's problems on the service after the action settled (the
   knowledge graph's occurrences).
3. New anomalies tied to those problems after the action settled.

No evidence of the problem after the action counts as recovered: verification runs after
the rule's watch window, so silence over that window is the recovery we wanted.
"""

from __future__ import annotations

from datetime import timedelta

from agents.models import Anomaly
from knowledge.models import Occurrence, Problem
from remediation.actions import control
from remediation.models import RemediationRun, Rule


def settled_since(run: RemediationRun) -> object:
    """Sightings in the first quarter of the window may be in flight from before the fix."""
    window = Rule.objects.filter(pk=run.rule_id).values_list("verify_after_seconds", flat=True)
    start = run.executed_at or run.created_at
    return start + timedelta(seconds=(window.first() or 0) // 4)


def incident_symptom(run: RemediationRun) -> tuple[set[str], set[int]]:
    """The signals and problems that make up the run's incident."""
    diagnosis = run.diagnosis
    problems = {diagnosis.problem_id}
    problems |= {int(p) for p in (diagnosis.evidence or {}).get("corroborating_problems", [])}
    signals = {s for s in (run.signal, diagnosis.signal) if s}
    signals |= {
        s for s in Problem.objects.filter(pk__in=problems).values_list("signal", flat=True) if s
    }
    return signals, problems


def signal_recovered(run: RemediationRun) -> tuple[bool, str]:
    signals, problems = incident_symptom(run)
    report = control.health(run.service)
    others = ""
    if report is not None:
        counts = report.get("signals") or {}
        still = {s: n for s, n in sorted(counts.items()) if s in signals and n}
        if still:
            words = ", ".join(f"{s} ({n}/min)" for s, n in still.items())
            return False, f"the control API still reports {words}"
        if not signals and report.get("status") == "unhealthy":
            return False, "the control API reports the service unhealthy"
        unrelated = sorted(s for s, n in counts.items() if n and s not in signals)
        if unrelated:
            others = f"; other faults on {run.service} are their own incidents: " + ", ".join(
                unrelated
            )
    since = settled_since(run)
    if Occurrence.objects.filter(
        problem_id__in=problems, service=run.service, last_at__gt=since
    ).exists():
        return False, "the problem occurred again after the action"
    if Anomaly.objects.filter(problem_id__in=problems, detected_at__gt=since).exists():
        return False, "a new anomaly of the problem after the action"
    source = (
        "control API shows none of its signals" if report is not None else "no control API report"
    )
    return True, f"no new occurrences since the action; {source}{others}"
