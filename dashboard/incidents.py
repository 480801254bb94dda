"""What the incident pages and the overview's incident panel show, in plain language.

An incident's page reads top to bottom the way on-call asks: what is broken (title,
service, impact), what happened (the timeline its state machine and the engine wrote),
why we think so (hypotheses as sentences), what is being done (the fix, its runs with the
reason for every non-success, its track record), and what I can do (acknowledge, approve or
reject, resolve by hand). Raw JSON stays behind a details toggle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.urls import reverse
from django.utils import timezone

from dashboard.panels import decide_urls
from knowledge.incident_text import hypothesis_sentence, percent
from knowledge.models import Incident, IncidentState, Solution
from remediation.actions import ActionError, action_title, get_action
from remediation.models import RemediationRun, RunStatus

SEVERITY_RANK = {"critical": 0, "error": 1, "warning": 2, "info": 3}
RECENTLY_RESOLVED = 5
NOT_SUCCESS = frozenset(
    {RunStatus.REJECTED, RunStatus.EXPIRED, RunStatus.FAILED, RunStatus.ROLLED_BACK,
     RunStatus.ESCALATED, RunStatus.SUPERSEDED}
)  # fmt: skip
STATE_CLASS = {
    IncidentState.TRIGGERED: "failing", IncidentState.DIAGNOSED: "failing",
    IncidentState.REOPENED: "failing", IncidentState.ACKNOWLEDGED: "warn",
    IncidentState.REMEDIATING: "warn", IncidentState.RESOLVED: "ok",
}  # fmt: skip


@dataclass
class RunLine:
    run: RemediationRun
    reason: str  # why it ended where it did (every non-success says why)


@dataclass
class IncidentRow:
    incident: Incident
    next_action: str
    state_class: str


def run_reason(run: RemediationRun) -> str:
    if run.status not in NOT_SUCCESS and run.status != RunStatus.SUCCEEDED:
        return ""
    last = run.transitions.all()[::-1][:1]
    reason = last[0].reason if last else ""
    return run.error or reason or run.get_status_display()


#: Where a run that has not ended stands, for the "Why" column (which ended runs fill with
#: their reason): an empty cell beside "Verifying" said nothing.
IN_PROGRESS = {
    RunStatus.PROPOSED: "the safety checks are deciding whether it may run on its own",
    RunStatus.AWAITING_APPROVAL: "waiting for an operator to approve or reject it",
    RunStatus.APPROVED: "approved; about to run",
    RunStatus.RUNNING: "running now",
    RunStatus.VERIFYING: "it ran; watching whether the symptom stops",
}


def run_why(run: RemediationRun) -> str:
    return run_reason(run) or IN_PROGRESS.get(run.status, "")


def next_action(incident: Incident, runs: list[RemediationRun]) -> str:
    if incident.state == IncidentState.RESOLVED:
        return incident.resolution or "resolved"
    waiting = [r for r in runs if r.status == RunStatus.AWAITING_APPROVAL]
    if waiting:
        return f"Approve or reject: {action_title(waiting[0].action)}"
    active = [r for r in runs if r.status in (RunStatus.APPROVED, RunStatus.RUNNING)]
    if active:
        return f"Fix running: {action_title(active[0].action)}"
    verifying = [r for r in runs if r.status == RunStatus.VERIFYING]
    if verifying:
        return f"Checking whether “{action_title(verifying[0].action)}” fixed it"
    if incident.state == IncidentState.ACKNOWLEDGED:
        return f"{incident.acknowledged_by or 'Someone'} is on it"
    if incident.state == IncidentState.REOPENED:
        return "Needs a person: the automatic fix did not work"
    return "Needs a look: no automatic fix applies"


def run_summary(run: RemediationRun, reason: str = "") -> str:
    """One sentence on a run's page: where it stands and what happens next, in words."""
    what = (run.preview or action_title(run.action)).rstrip(".")
    said = {
        RunStatus.PROPOSED: "Proposed; the safety checks decide next whether it runs on its own.",
        RunStatus.AWAITING_APPROVAL: f"Waiting for an operator. Approving does this: {what}. "
        "Rejecting does nothing and leaves the incident to a person.",
        RunStatus.APPROVED: "Approved; a worker is about to run it.",
        RunStatus.RUNNING: f"Running now: {what}.",
        RunStatus.VERIFYING: "It ran; now watching whether the symptom stops before calling "
        "it fixed.",
        RunStatus.SUCCEEDED: "It worked: the symptom stopped after the action.",
    }.get(run.status)
    if said:
        return said
    return f"{run.get_status_display()}: {reason or run_reason(run)}"


def rollback_plan(run: RemediationRun) -> str:
    """What happens if the fix does not help, for the approver to read before clicking."""
    try:
        action = get_action(run.action)(run.parameters, service=run.service, instance=run.instance)
        undoable = action.can_roll_back()
    except ActionError:  # a removed action or parameters it no longer takes
        undoable = False
    if undoable:
        return "If the symptom does not stop, it is rolled back automatically."
    return "It cannot be undone automatically: if it does not help, the incident returns to you."


def incidents_context() -> dict[str, Any]:
    """Open incidents first (most severe, then newest), then the last few resolved."""
    open_rows = list(Incident.objects.open().select_related("diagnosis"))
    open_rows.sort(key=lambda i: (SEVERITY_RANK.get(i.severity, 9), -i.opened_at.timestamp()))
    resolved = list(
        Incident.objects.filter(state=IncidentState.RESOLVED)
        .select_related("diagnosis")
        .order_by("-resolved_at")[:RECENTLY_RESOLVED]
    )
    incidents = open_rows + resolved
    runs: dict[int, list[RemediationRun]] = {}
    for run in RemediationRun.objects.filter(
        diagnosis_id__in=[i.diagnosis_id for i in incidents]
    ).order_by("-created_at"):
        runs.setdefault(run.diagnosis_id, []).append(run)
    rows = [
        IncidentRow(i, next_action(i, runs.get(i.diagnosis_id, [])), STATE_CLASS[i.state])
        for i in incidents
    ]
    return {"incident_rows": rows, "open_incident_count": len(open_rows)}


def incident_for_run(run: RemediationRun) -> Incident | None:
    return Incident.objects.filter(diagnosis_id=run.diagnosis_id).first()


def timeline(incident: Incident) -> list[dict[str, Any]]:
    rows = []
    for event in incident.timeline.all():
        label = event.get_to_state_display() if event.kind == "state" else event.get_kind_display()
        url = reverse("dashboard:run", args=[event.run_id]) if event.run_id else ""
        text = event.text
        if text.lower().startswith(label.lower()):  # "Diagnosed: Diagnosed: ..." reads once
            text = text[len(label) :].lstrip(": ")
        rows.append({"event": event, "label": label, "text": text, "run_url": url})
    return rows


def incident_detail(incident: Incident, *, can_act: bool) -> dict[str, Any]:
    diagnosis = incident.diagnosis
    evidence = diagnosis.evidence or {}
    runs = list(
        RemediationRun.objects.filter(diagnosis=diagnosis)
        .select_related("solution")
        .prefetch_related("transitions", "approvals__user")
        .order_by("created_at")
    )
    live = [r for r in runs if r.status == RunStatus.AWAITING_APPROVAL]
    solution_ids = [r.solution_id for r in runs if r.solution_id]
    solution_ids += [s.get("solution") for s in diagnosis.suggestions or [] if s.get("solution")]
    solutions = list(Solution.objects.filter(pk__in=solution_ids))
    return {
        "incident": incident,
        "diagnosis": diagnosis,
        "state_class": STATE_CLASS[incident.state],
        "impact": {
            "errors": diagnosis.event_count,
            "affected_users": evidence.get("affected_users"),
            "instances": sorted(name for name in evidence.get("instances") or {} if name),
            "latency_ms": (evidence.get("trigger") or {}).get("latency_ms"),
        },
        "confidence": percent(diagnosis.confidence),
        "timeline": timeline(incident),
        "hypotheses": [
            {"sentence": hypothesis_sentence(h), "problem": h.get("problem")}
            for h in diagnosis.hypotheses or []
        ][:5],
        "runs": [RunLine(r, run_why(r)) for r in runs],
        "prompts": [(r, decide_urls(r.pk), rollback_plan(r)) for r in live],
        "solutions": solutions,
        "next_action": next_action(incident, runs),
        "can_act": can_act,
        "age": timezone.now() - incident.opened_at,
        "admin_url": reverse("admin:knowledge_incident_change", args=[incident.pk]),
    }
