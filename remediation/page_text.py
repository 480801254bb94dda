"""What the "incident opened" page tells a person beyond its headline: since when, the
evidence in plain words (the error as it reads, the metric that moved, a change that came
just before) and whether anything will be done automatically.

Written for the faults nobody wrote a rule for: there the honest page says "cause unknown,
here is what we saw, nothing automatic will be done: a person must look", instead of leaving
the reader to guess whether AI-Ops Core is already on it. Pure reads of the diagnosis and
the rules; the words come from :mod:`knowledge.incident_text`.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from knowledge.incident_text import percent, readable
from knowledge.models import Incident
from remediation.actions import action_title

#: Words for the change events a diagnosis weighs (``agents.diagnostic.reasoning``).
CHANGE_WORDS = {"deploy.finished": "a deploy", "config.changed": "a configuration change"}


def cause_line(diagnosis: Any) -> str:
    """The diagnosed cause in words: a change said as a change, an unknown said as one."""
    top = (diagnosis.hypotheses or [{}])[0]
    kind = top.get("kind")
    if kind == "recent-change":
        changes = _changes([top])
        if changes:
            return f"Cause: probably a regression shipped by {changes[0]}"
    if kind == "unknown":
        return "Cause: unknown. No known problem or cause class fits what was seen."
    return f"Cause: {diagnosis.root_cause}"


def opened_lines(incident: Incident) -> list[str]:
    """The lines after the headline and the cause, for an operator reading a page."""
    diagnosis = incident.diagnosis
    since = timezone.localtime(incident.opened_at).strftime("%H:%M:%S %Z")
    times = "once" if diagnosis.event_count == 1 else f"{diagnosis.event_count} times"
    lines = [f"Since: {since}, {times} so far"]
    lines += [f"Evidence: {said}" for said in _evidence(diagnosis)]
    lines.append(automatic_plan(diagnosis))
    return lines


def automatic_plan(diagnosis: Any) -> str:
    """Whether a rule will act on this diagnosis, said plainly; "nothing" when none will."""
    # The engine announces through notify, which reads this: imported at call time.
    from remediation.engine.proposing import matching_rules

    rules = matching_rules(diagnosis)
    acting = [r for r in rules if diagnosis.confidence >= r.effective_threshold]
    if acting:
        fixes = ", ".join(
            action_title(r.action) + (" (waits for approval)" if r.requires_approval else "")
            for r in acting
        )
        return f"Automatic action: {fixes}."
    if rules:
        bar = min(r.effective_threshold for r in rules)
        return (
            f"Automatic action: none. A rule fits, but the diagnosis is only "
            f"{percent(diagnosis.confidence)} sure (it acts from {percent(bar)}): "
            "a person needs to look."
        )
    return "Automatic action: none. No rule fits this cause: a person needs to look."


def _evidence(diagnosis: Any) -> list[str]:
    evidence = diagnosis.evidence or {}
    said = []
    template = diagnosis.problem.log_template or evidence.get("message") or ""
    trigger = evidence.get("trigger") or {}
    if diagnosis.trigger_type == "anomaly.detected" and trigger.get("series"):
        said.append(_metric(trigger))
    elif template:
        said.append(f"the error reads “{readable(str(template), 200)}”")
    said += _changes(diagnosis.hypotheses or [], diagnosis.service)
    return said


def _metric(trigger: dict[str, Any]) -> str:
    series = readable(str(trigger["series"]), 120)
    value, expected = trigger.get("value"), trigger.get("expected")
    if isinstance(value, int | float) and isinstance(expected, int | float) and expected:
        # Whole numbers past ten: "120 (usually about 41)", not "119.862 (… 40.7966)".
        shown, usual = (round(v) if abs(v) >= 10 else round(v, 2) for v in (value, expected))
        return f"the metric {series} moved to {shown:g} (usually about {usual:g})"
    return f"the metric {series} moved"


def _changes(hypotheses: list[dict[str, Any]], service: str = "") -> list[str]:
    """Each change that came before the first error, once, said in words; one of another
    service than the incident's is said to be so (a clue, weighed a quarter as much)."""
    said: list[str] = []
    for hypothesis in hypotheses:
        for item in hypothesis.get("evidence") or []:
            if not isinstance(item, dict) or item.get("kind") != "change":
                continue
            if "minutes_before" not in item:
                continue
            what = CHANGE_WORDS.get(str(item.get("type")), "a change")
            version = _version(hypothesis.get("cause", ""))
            changed = item.get("service") or "a service"
            other = " (another service)" if service and changed != service else ""
            line = (
                f"{what}{version} of {changed}{other} finished "
                f"{item['minutes_before']:g} min before the first error"
            )
            if item.get("new_since_change") is False:
                line += " (but this error was seen before it)"
            if line not in said:
                said.append(line)
    return said[:2]


def _version(cause: str) -> str:
    """The version a recent-change hypothesis names ("deploy.finished 2.1 on web ...")."""
    parts = str(cause).split()
    return f" ({parts[1]})" if len(parts) > 2 and parts[0] in CHANGE_WORDS else ""
