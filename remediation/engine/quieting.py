"""The quiet rule: an incident whose symptom stopped resolves itself.

Operators expect what Alertmanager's resolve and PagerDuty's auto-resolve give them: when
the thing that opened an incident stops happening, the incident (and any prompt still
asking to fix it) clears without anyone clicking. Here the symptom is "seen" whenever the
diagnostic agent adds evidence to the incident's diagnosis (another of its errors, or
another anomaly window of its series: the monitor raises one per window while the series is
out of range), which moves ``Diagnosis.last_seen``. An incident unseen for
``INCIDENT_QUIET_MINUTES`` is resolved as "the symptom stopped on its own; nothing was done
by AI-Ops"; the existing receiver (``superseding.py``) then supersedes its prompts, each
with an audit entry.

Why 15 minutes by default: long enough that a live fault always shows again within it (the
monitor finalises a window a minute; the simulator's faults repeat within seconds; an
operator's import retries come within minutes, and a new sighting counted as a
recurrence after 10 minutes before today), three times Alertmanager's default
``resolve_timeout`` of 5 minutes because our evidence is sparser than a scraped alert, and
well inside the 60-minute approval TTL, so a stale prompt says "its incident was resolved"
rather than "expired".

Left alone:

* an incident with a run approved, running or verifying: the verifier decides it;
* an incident a person acknowledged: they own it (PEERS.md: "the AI may propose, a person
  clicks, nothing writes on its own"), so its page says, once per quiet spell, that the
  symptom stopped and that it is left for them to resolve.

Safe beside the diagnostic agent: the diagnosis row is locked (the agent locks it too before
adding evidence) and ``last_seen`` re-read under the lock, so evidence arriving as the rule
runs either lands first (and the incident stays open) or finds the incident resolved (and
opens a new one that names this one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from knowledge import services as knowledge
from knowledge.models import Diagnosis, EventKind, Incident
from remediation.metrics import INCIDENTS_QUIET
from remediation.models import RemediationRun, RunStatus

QUIET_RESOLUTION = "The symptom stopped on its own; nothing was done by AI-Ops"
LEFT_OPEN_NOTE = "The symptom stopped"
#: Runs that mean a fix is under way: the verifier, not the clock, closes their incident.
IN_FLIGHT = (RunStatus.PROPOSED, RunStatus.APPROVED, RunStatus.RUNNING, RunStatus.VERIFYING)


@dataclass
class QuietSweep:
    resolved: list[int] = field(default_factory=list)
    left_acknowledged: list[int] = field(default_factory=list)


def quiet_period() -> timedelta:
    return timedelta(minutes=settings.INCIDENT_QUIET_MINUTES)


def resolve_quiet_incidents(
    *, quiet: timedelta | None = None, now: datetime | None = None
) -> QuietSweep:
    """Resolve every open incident unseen for ``quiet``; returns which ones it touched."""
    quiet = quiet or quiet_period()
    cutoff = (now or timezone.now()) - quiet
    sweep = QuietSweep()
    candidates = Incident.objects.open().filter(diagnosis__last_seen__lt=cutoff)
    for pk in candidates.order_by("pk").values_list("pk", flat=True):
        outcome = _settle(pk, cutoff, quiet)
        if outcome == "resolved":
            sweep.resolved.append(pk)
        elif outcome == "left_acknowledged":
            sweep.left_acknowledged.append(pk)
        if outcome:
            INCIDENTS_QUIET.labels(outcome).inc()
    return sweep


def _settle(pk: int, cutoff: datetime, quiet: timedelta) -> str:
    with transaction.atomic():
        incident = Incident.objects.filter(pk=pk).first()
        if incident is None:
            return ""
        # Diagnosis first, as the diagnostic agent locks it: the same order, no deadlock.
        diagnosis = (
            Diagnosis.objects.select_for_update()
            .filter(pk=incident.diagnosis_id, last_seen__lt=cutoff)
            .first()
        )
        incident = Incident.objects.select_for_update().get(pk=pk)
        if diagnosis is None or not incident.is_open or _fix_under_way(incident):
            return ""
        minutes = int(quiet.total_seconds() // 60)
        since = f"{diagnosis.last_seen:%H:%M} UTC"
        if incident.acknowledged_by:
            return _say_left_open(incident, diagnosis, since)
        how = f"{QUIET_RESOLUTION} (not seen for {minutes} minutes, since {since})."
        return "resolved" if knowledge.resolve(incident, note=how) else ""


def _fix_under_way(incident: Incident) -> bool:
    runs = RemediationRun.objects.filter(diagnosis_id=incident.diagnosis_id, status__in=IN_FLIGHT)
    return runs.exists()


def _say_left_open(incident: Incident, diagnosis: Diagnosis, since: str) -> str:
    """Once per quiet spell: a note newer than the last sighting means it was said."""
    said = incident.timeline.filter(
        kind=EventKind.NOTE, text__startswith=LEFT_OPEN_NOTE, at__gte=diagnosis.last_seen
    )
    if said.exists():
        return ""
    knowledge.add_note(
        incident,
        f"{LEFT_OPEN_NOTE} (not seen since {since}). AI-Ops left this incident open because "
        f"{incident.acknowledged_by} acknowledged it: resolve it when you are done.",
        actor=None,
    )
    return "left_acknowledged"
