"""The one way to open and move incidents (see ``knowledge/models/incidents.py``).

The diagnostic agent opens an incident with its diagnosis; the remediation engine moves it
(remediating, reopened, resolved) and writes its steps to the timeline; people acknowledge
and resolve it from the dashboard. Every function changes rows in the caller's transaction
(or its own) and announces the change by :data:`knowledge.signals.incident_changed`, which the
layers above turn into events and notifications *after commit*.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from knowledge.grouping import strip_data
from knowledge.incident_text import incident_title, is_catalogue, percent, readable
from knowledge.models import (
    Diagnosis,
    DiagnosisStatus,
    EventKind,
    Incident,
    IncidentState,
    Problem,
    cause_key,
    folds_a_word,
    generalises,
)
from knowledge.signals import incident_changed

St = IncidentState
# Diagnoses that existed before incidents: what their incident's state is.
STATE_OF_DIAGNOSIS = {
    DiagnosisStatus.OPEN: St.DIAGNOSED,
    DiagnosisStatus.REMEDIATING: St.REMEDIATING,
    DiagnosisStatus.RESOLVED: St.RESOLVED,
    DiagnosisStatus.DISMISSED: St.RESOLVED,
}


def announce(incident: Incident, change: str, **details: Any) -> None:
    """``change``: opened, acknowledged, remediating, resolved, reopened, note, retitled."""
    incident_changed.send(sender=Incident, incident=incident, change=change, details=details)


def title_for(diagnosis: Diagnosis) -> str:
    problem = diagnosis.problem
    evidence = diagnosis.evidence or {}
    message = str(evidence.get("message") or "")
    return incident_title(
        problem_title=problem.title,
        problem_fingerprint=problem.fingerprint,
        catalogue_title=_catalogue_match(diagnosis),
        message=naming_the_exception(message, (evidence.get("trigger") or {}).get("exception"))
        or problem.log_template,
        general=covers_more_than(problem, message),
    )


def naming_the_exception(message: str, exception: Any) -> str:
    """A server error's line says where it happened ("Internal Server Error: GET /items/{id}")
    and its structured exception says what; an incident's title needs both, so the
    exception's type and message (data stripped) follow a line that does not name it."""
    if not message or not isinstance(exception, dict) or not exception.get("type"):
        return message
    kind = str(exception["type"]).rsplit(".", 1)[-1]
    if kind in message:
        return message
    what = strip_data(str(exception.get("message") or "")).strip()
    return f"{message} ({kind}: {what})" if what else f"{message} ({kind})"


def covers_more_than(problem: Problem, message: str) -> bool:
    """Whether ``problem``'s template has a slot where ``message`` (the error as seen) has a
    word: the fingerprinter folded that word position (user names) before this line came, so
    the line names one value of many. Compared with the line as the fingerprinter saw it
    (data stripped, numbers and addresses masked), so the slots every line has anyway (an IP,
    a port) do not count: an unfolded problem's incident keeps the line's fuller words."""
    return bool(message) and folds_a_word(strip_data(message), problem.log_template)


def follow_problem_title(problem: Problem, old_title: str) -> int:
    """Open incidents of ``problem`` (or of a problem merged into it) take its new title, once
    its automatic title generalised from ``old_title`` (a word slot folded into a wildcard):
    an incident opened on "Accepted publickey for alice" must not keep naming one user after
    its problem covers them all. Only a title derived from the problem is moved (see
    :func:`_derived_from_problem`); a resolved incident keeps the words it was resolved
    under. Runs in the caller's transaction, the one that moved the problem's title, so the
    two commit together. Returns how many incidents changed."""
    new = readable(problem.title)
    incidents = (
        Incident.objects.open()
        .filter(Q(diagnosis__problem=problem) | Q(diagnosis__problem__merged_into=problem))
        .select_related("diagnosis__problem__merged_into")
        .exclude(title=new)
    )
    moved = 0
    for incident in incidents:
        old = incident.title
        if not _derived_from_problem(incident, old_title) or not incident.retitle(old, new):
            continue
        # Said once on the timeline: the "opened" notification and anyone who looked
        # earlier read the specific words, and the heading no longer matches them.
        incident.note(
            EventKind.NOTE,
            f"Title generalised: the same error came with other values, so it now reads “{new}”.",
        )
        announce(incident, "retitled", reason="its problem's title generalised")
        moved += 1
    return moved


def _derived_from_problem(incident: Incident, old_title: str) -> bool:
    """Whether the incident's title is one :func:`title_for` derived from its problem (the
    error line it opened on, or the problem's automatic title, as they read before the fold or
    after an earlier one) rather than a catalogue problem's name, which it keeps. Titles are
    not editable (admin and API show them read-only); one that matches none of these was
    written some other way and is kept too."""
    diagnosis, problem = incident.diagnosis, incident.diagnosis.problem
    if is_catalogue(problem.fingerprint) or _catalogue_match(diagnosis):
        return False
    # An incident of a problem merged into the one that moved (a fingerprint merge; a
    # curator's may join different errors) takes its title only once that covers its own.
    kept = problem.merged_into
    moved_on = kept is not None and kept.log_template != problem.log_template
    if moved_on and not generalises(problem.log_template, kept.log_template):
        return False
    message = str((diagnosis.evidence or {}).get("message") or "")
    derived = {readable(old_title), readable(problem.title)}
    if message:
        derived.add(readable(message))
    return incident.title in derived


def _catalogue_match(diagnosis: Diagnosis) -> str | None:
    """The catalogue problem behind the diagnosis' cause: the first hypothesis (or similar
    problem) that is a catalogue entry with the diagnosis' signal, not any neighbour."""
    ids = [h.get("problem") for h in diagnosis.hypotheses or [] if h.get("problem")]
    ids += [s.get("problem") for s in (diagnosis.evidence or {}).get("similar", [])]
    rows = {
        pk: (title, fingerprint, signal)
        for pk, title, fingerprint, signal in Problem.objects.filter(
            pk__in=[i for i in ids if i]
        ).values_list("pk", "title", "fingerprint", "signal")
    }
    for pk in ids:
        title, fingerprint, signal = rows.get(pk, ("", "", ""))
        if is_catalogue(fingerprint) and diagnosis.signal and signal == diagnosis.signal:
            return title
    return None


class SameCauseOpen(Exception):  # noqa: N818 (a condition, not a failure)
    """An incident for this cause is already open on this service: join it instead."""

    def __init__(self, incident: Incident) -> None:
        super().__init__(f"incident {incident.pk} is open for {incident.cause}")
        self.incident = incident


def open_for_cause(service: str, cause: str) -> Incident | None:
    return Incident.objects.open().filter(service=service, cause=cause).first()


def open_incident(
    diagnosis: Diagnosis, *, detected_at: datetime | None = None, dedupe: bool = True
) -> Incident:
    """The diagnosis' incident, opened (detected, then diagnosed) if it has none yet.

    Raises :class:`SameCauseOpen` when another incident of the same cause is open on the
    service (the database's ``one_open_per_cause`` decides, so two workers racing get one
    incident); ``dedupe=False`` opens it unkeyed (a diagnosis from before the key existed).
    """
    existing = Incident.objects.filter(diagnosis=diagnosis).first()
    if existing is not None:
        return existing
    cause = cause_key(diagnosis.signal, diagnosis.problem_id) if dedupe else ""
    try:
        with transaction.atomic():
            incident = Incident.objects.create(
                diagnosis=diagnosis, service=diagnosis.service, title=title_for(diagnosis),
                severity=diagnosis.problem.severity, state=St.TRIGGERED, cause=cause,
                opened_at=detected_at or diagnosis.created_at,
            )  # fmt: skip
            message = readable(str((diagnosis.evidence or {}).get("message", "")), 200)
            where = f" on {diagnosis.service}" if diagnosis.service else ""
            incident.note(
                EventKind.DETECTED, f"Detected{where}: {message or incident.title}",
                at=incident.opened_at,
            )  # fmt: skip
            _link_to_previous(incident)
            incident.transition(
                St.DIAGNOSED,
                reason=f"Diagnosed: {readable(diagnosis.root_cause, 200)} "
                f"({percent(diagnosis.confidence)} confident)",
            )
    except IntegrityError:  # another worker opened it (or one for its cause) first
        mine = Incident.objects.filter(diagnosis=diagnosis).first()
        if mine is not None:
            return mine
        same = open_for_cause(diagnosis.service, cause) if cause else None
        if same is None:
            raise
        raise SameCauseOpen(same) from None
    announce(incident, "opened")
    return incident


def _link_to_previous(incident: Incident) -> None:
    """A recurrence opens a new incident (the resolved one keeps its fix's verified outcome,
    which learning counts) and says which one it repeats, as PagerDuty and Alertmanager do."""
    if not incident.cause:
        return
    before = (
        Incident.objects.filter(service=incident.service, cause=incident.cause, state=St.RESOLVED)
        .exclude(pk=incident.pk)
        .order_by("-resolved_at")
        .first()
    )
    if before is None or before.resolved_at is None:
        return
    how = f" ({readable(before.resolution, 150)})" if before.resolution else ""
    incident.note(
        EventKind.NOTE,
        f"This cause came back: incident {before.pk} was resolved at "
        f"{before.resolved_at:%H:%M} UTC on {before.resolved_at:%d %b}{how}.",
    )


def incident_for(diagnosis: Diagnosis | int) -> Incident:
    """The incident of a diagnosis, opened now for one that has none (older rows, tests)."""
    pk = getattr(diagnosis, "pk", diagnosis)
    found = Incident.objects.filter(diagnosis_id=pk).first()
    if found is not None:
        return found
    row = diagnosis if isinstance(diagnosis, Diagnosis) else Diagnosis.objects.get(pk=pk)
    try:
        return open_incident(row)
    except SameCauseOpen:  # an old diagnosis beside a live incident of its cause
        return open_incident(row, dedupe=False)


def add_evidence(diagnosis: Diagnosis, text: str) -> None:
    incident = incident_for(diagnosis)
    incident.note(EventKind.EVIDENCE, text)
    announce(incident, "note")


def record_step(
    diagnosis: Diagnosis | int, text: str, *, run_id: int | None = None, actor: Any = None
) -> None:
    """A remediation step on the timeline (proposed, approved by, executed, verified)."""
    incident = incident_for(diagnosis)
    incident.note(EventKind.REMEDIATION, text, run_id=run_id, actor=actor)
    announce(incident, "note")


def _move(incident: Incident, to: str, *, actor: Any = None, reason: str = "", **fields) -> bool:
    """Move from whatever state the row holds now, if the machine allows it."""
    for _ in range(3):  # someone else moved it between the read and the update: re-read
        incident.refresh_from_db(fields=["state"])
        if not incident.can_transition(to):
            return False
        if incident.transition(to, actor=actor, reason=reason, **fields):
            announce(incident, to, actor=getattr(actor, "username", "") or "system", reason=reason)
            return True
    return False


def start_remediation(diagnosis: Diagnosis | int, reason: str) -> bool:
    incident = incident_for(diagnosis)
    if incident.state == St.REMEDIATING:
        return False
    return _move(incident, St.REMEDIATING, reason=reason)


def remediation_failed(diagnosis: Diagnosis | int, reason: str) -> bool:
    """Nothing fixed it: open for people again (unless it is already resolved)."""
    incident = incident_for(diagnosis)
    if incident.state != St.REMEDIATING:
        incident.note(EventKind.REMEDIATION, reason)
        announce(incident, "note")
        return False
    return _move(incident, St.REOPENED, reason=reason)


def resolve(incident: Incident, *, actor: Any = None, note: str = "") -> bool:
    how = note.strip() or ("resolved by hand" if actor is not None else "the fix was verified")
    return _move(incident, St.RESOLVED, actor=actor, reason=how, resolution=how[:500])


def resolve_diagnosis(diagnosis: Diagnosis | int, reason: str) -> bool:
    return resolve(incident_for(diagnosis), note=reason)


def acknowledge(incident: Incident, actor: Any) -> bool:
    """Someone is on it. From remediating it stays a note (the fix carries on), but who
    took it is still kept: the quiet rule never resolves an incident a person holds."""
    who = getattr(actor, "username", "") or str(actor)
    if incident.state == St.REMEDIATING or not incident.is_open:
        if incident.is_open:
            Incident.objects.filter(pk=incident.pk).update(
                acknowledged_at=timezone.now(), acknowledged_by=who[:150]
            )
        incident.note(EventKind.NOTE, f"Acknowledged by {who}", actor=actor)
        announce(incident, "note")
        return False
    return _move(
        incident, St.ACKNOWLEDGED, actor=actor, reason=f"Acknowledged by {who}",
        acknowledged_at=timezone.now(), acknowledged_by=who[:150],
    )  # fmt: skip


def add_note(incident: Incident, text: str, actor: Any) -> None:
    incident.note(EventKind.NOTE, text, actor=actor)
    announce(incident, "note")
