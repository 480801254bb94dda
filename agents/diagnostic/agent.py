"""BookmarkDiagnosticAgent: from errors to problems, hypotheses and a stored Diagnosis.

Every error that enters (an import failure, an error log line, a firing alert, an anomaly)
is fingerprinted and counted in the knowledge graph (problem capture). The first error of a
problem on a service opens a Diagnosis and its incident; more of the same cause (the same
problem, or the same catalogue signal, on that service) only adds to its evidence count for
as long as its incident is open, however long that is (an operator works one incident per
cause, as with PagerDuty's dedup_key); after a quiet spell the timeline says it was seen
again. Once it is resolved (a verified fix, by hand, or the quiet rule), a recurrence opens
a new incident that names the one it repeats. So a burst of ten thousand failures yields one
diagnosis (and one ``diagnosis.ready`` for the remediation engine), not ten thousand.

Two workers diagnosing one cause at once both miss the other's uncommitted diagnosis; the
database's one-open-incident-per-cause constraint stops the second, which then joins the
first (``SameCauseOpen``).
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import timedelta

from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from agents import mesh
from agents.diagnostic import reasoning
from agents.events import Event, system_event
from agents.mesh import Delivery
from agents.runtime import BaseAgent, register_agent
from agents.system_events import AnomalyDetected, DiagnosisReady
from knowledge import services
from knowledge.incident_text import percent, readable
from knowledge.models import Diagnosis, DiagnosisStatus, Problem, Solution
from knowledge.similarity import known_problems_like

#: New evidence after this long without any is a recurrence worth a timeline row.
SEEN_AGAIN_AFTER = timedelta(minutes=5)
#: An unexplained anomaly this close to a diagnosed error burst is read as its symptom.
CONCURRENT_WINDOW = timedelta(seconds=90)
SIMILAR_K = 5
SUGGESTIONS = 5


@register_agent
class BookmarkDiagnosticAgent(BaseAgent):
    name = "bookmark-diagnostic"
    kind = "diagnostic"
    version = "1"
    description = "Fingerprints errors, correlates them with changes and anomalies, diagnoses."
    subscribes = ("import.failed", "log.line", "alert.firing", "anomaly.detected")
    # The cost is per distinct error in a batch (a sighting and a diagnosis update, about a
    # dozen queries), not per event: a catch-up after an outage reads full batches, and 1000
    # events of a handful of errors cost about what 200 did (about 2.5x the drain rate).
    batch_size = 1000

    def handle(self, deliveries: list[Delivery]) -> None:
        # One message may hide several exceptions ("Internal Server Error: /x"): the
        # exception is part of the group, so each is sighted as its own problem.
        groups: dict[tuple[str, str, str, str, str], list[Event]] = defaultdict(list)
        exceptions: dict[str, dict | None] = {}
        for delivery in deliveries:
            event = delivery.event
            text = reasoning.error_text(event)
            if text is not None:
                exception = reasoning.exception_of(event)
                key = json.dumps(exception, sort_keys=True) if exception else ""
                exceptions[key] = exception
                service = reasoning.service_of(event)
                groups[(text, key, event.type, service, event.instance)].append(event)
        for (text, key, event_type, service, instance), events in groups.items():
            self.activity = f"diagnosing {event_type} from {service}"
            diagnose(text, events, service=service, instance=instance, exception=exceptions[key])


def diagnose(
    text: str, events: list[Event], *, service: str, instance: str, exception: dict | None = None
) -> Diagnosis:
    """Record the sightings of one error text (and its structured exception, which decides
    the problem when present) and open or reinforce its diagnosis."""
    trigger = events[0]
    described = f"{text} {exception['type']}: {exception['message']}" if exception else text
    category, severity = reasoning.classify_error(described, trigger.type)
    # The monitor already counted an anomaly as an occurrence of its problem.
    problem = _problem_of_anomaly(trigger) if trigger.type == "anomaly.detected" else None
    if problem is None:
        # No count: each event id counts once, ever, so a batch redelivered after a crash
        # between the commit and the acknowledgement adds nothing the second time.
        problem = services.record_sighting(
            text, service=service, instance=instance, category=category, severity=severity,
            event_ids=[e.id for e in events], at=trigger.timestamp, exception=exception,
        )  # fmt: skip
    with transaction.atomic():
        # Its own problem's, or one it already corroborated on this service; an anomaly
        # read as the symptom of an error burst (on whichever service, as
        # ``_concurrent_error_diagnosis`` read it) stays that burst's evidence while its
        # series is out of range.
        corroborated = Q(evidence__corroborating_problems__contains=[problem.pk])
        if trigger.type != "anomaly.detected":
            corroborated &= Q(service=service)
        live = _live_diagnoses().filter(Q(problem=problem, service=service) | corroborated)
        open_diagnosis = live.order_by("-created_at").first()
        if open_diagnosis is not None:
            return _reinforce(open_diagnosis, events, text)
        return _open_diagnosis(text, events, problem, service=service, instance=instance)


def _reinforce(diagnosis: Diagnosis, events: list[Event], text: str) -> Diagnosis:
    """The same error again: counted, and said on the timeline after a quiet spell."""
    gap = timezone.now() - diagnosis.last_seen
    Diagnosis.objects.filter(pk=diagnosis.pk).update(
        event_count=F("event_count") + len(events), last_seen=timezone.now()
    )
    if gap >= SEEN_AGAIN_AFTER:
        diagnosis.refresh_from_db(fields=["event_count", "last_seen"])
        _say_seen_again(diagnosis, gap, text)
    return diagnosis


def _say_seen_again(diagnosis: Diagnosis, gap: timedelta, text: str) -> None:
    minutes = max(1, int(gap.total_seconds() // 60))
    services.add_evidence(
        diagnosis,
        f"Seen again after {minutes} minutes without it: {readable(text, 200)} "
        f"({diagnosis.event_count} sightings in all)",
    )


def _problem_of_anomaly(trigger: Event) -> Problem | None:
    from agents.models import Anomaly

    anomaly = (
        Anomaly.objects.filter(series=AnomalyDetected.model_validate(trigger.payload).series)
        .exclude(problem=None)
        .order_by("-detected_at")
        .select_related("problem")
        .first()
    )
    return anomaly.problem if anomaly else None


def _open_diagnosis(
    text: str, events: list[Event], problem: Problem, *, service: str, instance: str
) -> Diagnosis:
    trigger = events[0]
    similar = known_problems_like(text, SIMILAR_K, problem=problem)
    context = reasoning.gather_context(
        trigger.timestamp, triggers=events, first_seen=problem.first_seen
    )
    hypotheses = reasoning.rank_hypotheses(trigger, similar, context)
    top = hypotheses[0] if hypotheses else None
    confidence = reasoning.confidence(hypotheses)
    if top is not None and top.signal:
        same_cause = _open_for_signal(top.signal, service)
        if same_cause is not None:
            return _corroborate(same_cause, events, problem, text, confidence)
    elif trigger.type == "anomaly.detected":
        explained = _concurrent_error_diagnosis()
        if explained is not None:
            return _corroborate(explained, events, problem, text, confidence)
    try:
        with transaction.atomic():
            return _create_diagnosis(
                text, events, problem, service=service, instance=instance,
                hypotheses=hypotheses, confidence=confidence, context=context, similar=similar,
            )  # fmt: skip
    except services.SameCauseOpen as clash:  # another worker opened this cause meanwhile
        first = Diagnosis.objects.select_for_update().get(pk=clash.incident.diagnosis_id)
        return _corroborate(first, events, problem, text, confidence)


def _create_diagnosis(
    text: str, events: list[Event], problem: Problem, *, service: str, instance: str,
    hypotheses: list[reasoning.Hypothesis], confidence: float, context: reasoning.Context,
    similar: list[tuple[Problem, float]],
) -> Diagnosis:  # fmt: skip
    trigger, top = events[0], (hypotheses[0] if hypotheses else None)
    diagnosis = Diagnosis.objects.create(
        problem=problem,
        service=service,
        instance=instance,
        trigger_event_id=trigger.id,
        trigger_type=trigger.type,
        root_cause=top.cause if top else f"unexplained: {problem.title}",
        signal=top.signal if top else problem.signal,
        confidence=confidence,
        hypotheses=[_hypothesis_json(h) for h in hypotheses[:8]],
        evidence={
            "message": text[:1000],
            "event_ids": [e.id for e in events[:50]],
            "instances": dict(context.instances.most_common(10)),
            "affected_users": len(context.users),
            "trigger": trigger.payload,
            "similar": [
                {"problem": p.pk, "title": p.title, "score": round(s, 3)} for p, s in similar
            ],
        },
        suggestions=_suggestions(top, similar, service),
        event_count=len(events),
    )
    services.open_incident(diagnosis, detected_at=trigger.timestamp)
    _announce(diagnosis)
    return diagnosis


def _live_diagnoses(seen_within: timedelta | None = None) -> QuerySet[Diagnosis]:
    """Open or being remediated (its incident is open), seen within ``seen_within`` when
    given; locked, as the caller may add to one."""
    live = Diagnosis.objects.select_for_update().filter(
        status__in=(DiagnosisStatus.OPEN, DiagnosisStatus.REMEDIATING)
    )
    if seen_within is None:
        return live
    return live.filter(last_seen__gte=timezone.now() - seen_within)


def _open_for_signal(signal: str, service: str) -> Diagnosis | None:
    """The open diagnosis of this root cause on this service: one incident per cause, even
    when the fingerprinter keeps two wordings of it apart as two problems."""
    return _live_diagnoses().filter(signal=signal, service=service).order_by("-confidence").first()


def _concurrent_error_diagnosis() -> Diagnosis | None:
    """The diagnosed error burst going on right now, if any: an anomaly no known problem
    explains (an error rate, a latency) that coincides with it is its symptom, and so
    evidence for its cause rather than a separate incident."""
    return (
        _live_diagnoses(CONCURRENT_WINDOW)
        .exclude(signal="")
        .exclude(trigger_type="anomaly.detected")
        .order_by("-last_seen")
        .first()
    )


def _corroborate(
    diagnosis: Diagnosis, events: list[Event], problem: Problem, text: str, confidence: float
) -> Diagnosis:
    """Another kind of evidence for the same cause raises the diagnosis' confidence.

    Only a distinct problem (a different error, or an anomaly) counts as new evidence, never
    the same error again; independent evidence combines as a noisy-OR, capped at 0.99. A
    rise is announced again, so a rule whose threshold the first sighting missed can act.
    """
    gap = timezone.now() - diagnosis.last_seen
    evidence = dict(diagnosis.evidence or {})
    seen = set(evidence.get("corroborating_problems", [])) | {diagnosis.problem_id}
    fields: dict[str, object] = {
        "event_count": F("event_count") + len(events),
        "last_seen": timezone.now(),
    }
    raised = False
    if problem.pk not in seen:
        combined = round(min(0.99, 1 - (1 - diagnosis.confidence) * (1 - confidence)), 3)
        evidence["corroborating_problems"] = sorted(seen | {problem.pk})
        raised = combined > diagnosis.confidence
        # ``raised_to`` lets the pages say what this evidence did ("raised confidence to 93%").
        evidence.setdefault("corroboration", []).append(
            {"problem": problem.pk, "message": text[:300], "confidence": confidence,
             "event": events[0].id, "type": events[0].type,
             "raised_to": combined if raised else None}
        )  # fmt: skip
        fields["evidence"] = evidence
        if raised:
            fields["confidence"] = combined
    Diagnosis.objects.filter(pk=diagnosis.pk).update(**fields)
    diagnosis.refresh_from_db()
    if "evidence" in fields:
        services.add_evidence(
            diagnosis,
            f"More evidence ({events[0].type}): {readable(text, 200)}; "
            f"{percent(diagnosis.confidence)} confident now",
        )
    elif gap >= SEEN_AGAIN_AFTER:
        _say_seen_again(diagnosis, gap, text)
    if raised:
        _announce(diagnosis)
    return diagnosis


def _hypothesis_json(h: reasoning.Hypothesis) -> dict:
    return {
        "cause": h.cause,
        "kind": h.kind,
        "score": round(h.score, 3),
        "signal": h.signal,
        "problem": h.problem_id,
        "evidence": h.evidence,
    }


def _suggestions(
    top: reasoning.Hypothesis | None, similar: list[tuple[Problem, float]], service: str
) -> list:
    """Solutions of the explaining problem first, then of similar ones that match its cause
    (``reasoning.suggestible``), best proven first."""
    candidates = [p for p, _ in similar if reasoning.suggestible(p, top, service)]
    problem_ids = ([top.problem_id] if top and top.problem_id else []) + [p.pk for p in candidates]
    solutions = Solution.objects.filter(problem_id__in=problem_ids).order_by(
        "-success_lower_bound", "pk"
    )
    ranked = sorted(
        solutions, key=lambda s: (problem_ids.index(s.problem_id), -s.success_lower_bound)
    )
    return [
        {
            "solution": s.pk,
            "title": s.title,
            "action": s.action,
            "parameters": s.parameters,
            "success": s.success_label,
            "lower_bound": round(s.success_lower_bound, 3),
        }
        for s in ranked[:SUGGESTIONS]
    ]


def _announce(diagnosis: Diagnosis) -> None:
    mesh.publish_on_commit(diagnosis_ready_event(diagnosis))


def diagnosis_ready_event(diagnosis: Diagnosis) -> Event:
    ready = DiagnosisReady(
        diagnosis=diagnosis.pk,
        problem=diagnosis.problem_id,
        fingerprint=diagnosis.problem.fingerprint,
        service=diagnosis.service,
        instance=diagnosis.instance,
        signal=diagnosis.signal,
        root_cause=diagnosis.root_cause,
        confidence=diagnosis.confidence,
        suggestions=diagnosis.suggestions,
    )
    return system_event(
        "diagnosis.ready",
        ready,
        instance=BookmarkDiagnosticAgent.name,
        severity="warning",
        correlation_id=diagnosis.trigger_event_id,
    )
