"""Root-cause reasoning for the diagnostic agent: plain functions, testable without workers.

A diagnosis starts from one error (an import failure, an error log line, a firing alert, an
anomaly). It is fingerprinted into a problem of the knowledge graph, then explained by
ranked hypotheses, each with the evidence that supports it:

* **known problem** — the curated problems closest in meaning (vector similarity); a known
  problem carries the ``signal`` that remediation rules match on (``import_timeout``). A
  catalogue problem written for one application (the simulator's) only explains errors of
  that application's services (:func:`applies_to`);
* **cause class** — a generic cause any application's evidence can show (database
  contention, a failing upstream, resource exhaustion, oversized work, malformed input:
  :mod:`agents.diagnostic.causes`), from the exception and its words, from the errors a
  service logs while its anomaly is going on, and from the anomalies' shape;
* **recent change** — a deploy or configuration change of the same service shortly before.
  It is a *regression* (cause class ``deploy-regression``) only when the error is new since
  the change, and its weight decays with the minutes in between: a deploy half an hour ago
  does not explain an error seen every day before it;
* **correlated anomaly** — anomalies on *other* series in the minutes around it. An anomaly
  never explains itself: the triggering anomaly and its own series are left out;
* **workload** — the trigger's own context (a huge import, one instance or many);
* **unknown** — when nothing reaches a weak level of evidence, the answer is "unknown cause"
  with what changed, at a low confidence, rather than the least bad guess dressed up.

Scores are additive and explainable: every hypothesis lists the evidence that earned it
points. About 1.0 is one clear piece of evidence; the confidence of the winner is its share
of all points tempered by its support, and a winner under 1.0 never gets more than 0.5.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from agents import mesh
from agents.diagnostic import causes
from agents.diagnostic.evidence import (
    classify_error,
    error_text,
    exception_of,
    requests_served,
    service_of,
)
from agents.diagnostic.workload import LARGE_IMPORT_BOOKMARKS, weigh_workload
from agents.events import Event
from agents.system_events import AnomalyDetected

__all__ = ["classify_error", "error_text", "exception_of", "service_of"]

CHANGE_WINDOW = timedelta(minutes=30)
#: A change's weight halves every this many minutes (30 min later it is about 1/8).
CHANGE_HALF_LIFE_MINUTES = 10.0
#: An error first seen this long before a change still counts as new since it (clock skew).
CHANGE_SLACK = timedelta(seconds=5)
#: A regression shows on the first requests through its code path: after this many served
#: without the error, a change explains it a quarter as much (it began for another reason).
CLEAN_REQUESTS = 300
CLEAN_TRAFFIC_WEIGHT = 0.25
ANOMALY_WINDOW = timedelta(minutes=5)
#: Errors a service logged this close to its anomaly are read for the anomaly's cause.
CONCURRENT_ERRORS = timedelta(minutes=2)
MAX_CONCURRENT_ERRORS = 500
#: Concurrent errors are indirect evidence for an anomaly: their classes count this much.
CONCURRENT_WEIGHT = 0.85
#: A hypothesis under this score is weak: its confidence is capped at 0.5.
WEAK_SCORE = 1.0
#: Under this best score the answer is "unknown cause" (with what changed).
UNKNOWN_BELOW = 0.6
UNKNOWN_CONFIDENCE = 0.2
#: Catalogue problems (``knowledge.seed``) carry this fingerprint prefix.
CATALOGUE_PREFIX = "catalogue:"
MIN_SIMILARITY = 0.3
CATEGORY_PRIOR = 0.2


def applies_to(problem: Any, service: str) -> bool:
    """Whether a known problem may explain (and its solutions fix) an error of ``service``.

    Catalogue problems describe one application (the simulator's bookmark manager): they
    apply to the services they list. Problems learned from sightings apply anywhere.
    """
    if not str(getattr(problem, "fingerprint", "")).startswith(CATALOGUE_PREFIX):
        return True
    scope = getattr(problem, "services", None) or []
    # An unknown service (a minute anomaly over all traffic) cannot be scoped out.
    return not scope or not service or service in scope


def suggestible(problem: Any, top: Hypothesis | None, service: str) -> bool:
    """Whether a similar problem's solutions are worth proposing for a diagnosis: only when
    it is the explaining problem or shares its cause (signal), and applies to the service.
    Being merely similar in words proposed another application's fixes for real faults."""
    if top is None or not applies_to(problem, service):
        return False
    return problem.pk == top.problem_id or bool(top.signal and problem.signal == top.signal)


@dataclass
class Hypothesis:
    cause: str
    kind: str  # known-problem, cause-class, recent-change, correlated-anomaly, workload, unknown
    score: float
    signal: str = ""
    problem_id: int | None = None
    evidence: list[dict[str, Any]] = field(default_factory=list)
    cause_class: str = ""


@dataclass
class Context:
    """The system state around an error, read from the streams (the record of what happened).

    ``first_seen`` is when the error's problem was first seen (None for a new one);
    ``errors`` are (exception, text) of errors the service logged around an anomaly.
    """

    changes: list[Event] = field(default_factory=list)
    anomalies: list[Event] = field(default_factory=list)
    instances: Counter[str] = field(default_factory=Counter)
    users: set[str] = field(default_factory=set)
    service: str = ""
    first_seen: datetime | None = None
    errors: list[tuple[dict[str, Any] | None, str]] = field(default_factory=list)


def gather_context(
    at: datetime, *, triggers: list[Event], first_seen: datetime | None = None
) -> Context:
    trigger = triggers[0]
    context = Context(service=service_of(trigger), first_seen=first_seen)
    for event_type in ("deploy.finished", "config.changed"):
        context.changes += [d.event for d in mesh.replay(event_type, since=at - CHANGE_WINDOW)]
    # An anomaly never explains itself: the trigger is not one of its own correlations.
    own = {e.id for e in triggers}
    context.anomalies = [
        d.event
        for d in mesh.replay("anomaly.detected", since=at - ANOMALY_WINDOW)
        if d.event.id not in own
    ]
    if trigger.type == "anomaly.detected" and context.service:
        context.errors = _concurrent_errors(at, context.service)
    for event in triggers:
        context.instances[event.instance or event.source] += 1
        if user := event.payload.get("user_id"):
            context.users.add(str(user))
    return context


def _concurrent_errors(at: datetime, service: str) -> list[tuple[dict[str, Any] | None, str]]:
    """The errors ``service`` reported in the minutes around ``at`` (newest kept)."""
    found: list[tuple[dict[str, Any] | None, str]] = []
    for event_type in ("log.line", "import.failed"):
        for delivery in mesh.replay(event_type, since=at - CONCURRENT_ERRORS):
            event = delivery.event
            if event.source != service:
                continue
            text = error_text(event)
            if text is not None:
                found.append((exception_of(event), text))
    return found[-MAX_CONCURRENT_ERRORS:]


def rank_hypotheses(
    trigger: Event,
    similar: list[tuple[Any, float]],
    context: Context,
) -> list[Hypothesis]:
    """Hypotheses for one trigger, best first. ``similar`` is [(Problem, score)]."""
    hypotheses: list[Hypothesis] = []
    category, _ = classify_error(error_text(trigger) or "", trigger.type)
    service = context.service or service_of(trigger)
    for problem, similarity in similar:
        if similarity < MIN_SIMILARITY or not getattr(problem, "signal", ""):
            continue
        if not applies_to(problem, service):
            continue  # another application's problem: its advice does not apply here
        # The words of the error agree with the problem's category: a small, fair nudge.
        prior = CATEGORY_PRIOR if problem.category == category else 0.0
        hypotheses.append(
            Hypothesis(
                cause=problem.title,
                kind="known-problem",
                score=2.0 * similarity + prior,
                signal=problem.signal,
                problem_id=problem.pk,
                evidence=[{"kind": "similar-problem", "problem": problem.pk,
                           "similarity": round(similarity, 3)}],
            )
        )  # fmt: skip
    weigh_workload(trigger, hypotheses)
    hypotheses += _cause_classes(trigger, context)
    hypotheses += _changes(trigger, context, service)
    if context.anomalies:
        anomalies = [(a, AnomalyDetected.model_validate(a.payload)) for a in context.anomalies]
        own_series = _own_series(trigger)
        anomalies = [(a, anomaly) for a, anomaly in anomalies if anomaly.series != own_series]
        series = sorted({anomaly.series for _, anomaly in anomalies})
        evidence = [{"kind": "anomaly", "event": a.id, "series": anomaly.series}
                    for a, anomaly in anomalies[:10]]  # fmt: skip
        for hypothesis in hypotheses:
            if hypothesis.kind == "known-problem" and evidence:
                hypothesis.score += 0.2
                hypothesis.evidence += evidence[:3]
        if series:
            hypotheses.append(
                Hypothesis(
                    cause="correlated anomalies on " + ", ".join(series[:5]),
                    kind="correlated-anomaly",
                    score=0.3 + 0.1 * min(len(series), 5),
                    evidence=evidence,
                )
            )
    hypotheses.sort(key=lambda h: -h.score)
    if not hypotheses or hypotheses[0].score < UNKNOWN_BELOW:
        hypotheses.insert(0, _unknown(context, service))
    return hypotheses


def _own_series(trigger: Event) -> str:
    if trigger.type != "anomaly.detected":
        return ""
    return AnomalyDetected.model_validate(trigger.payload).series


def _cause_classes(trigger: Event, context: Context) -> list[Hypothesis]:
    """Generic cause classes from the trigger's error, concurrent errors and anomalies."""
    scores: dict[str, tuple[float, list[dict[str, Any]]]] = {}

    def add(found: dict[str, tuple[float, list[dict[str, Any]]]], weight: float) -> None:
        for cls, (score, evidence) in found.items():
            old_score, old_evidence = scores.get(cls, (0.0, []))
            scores[cls] = (max(old_score, score * weight), old_evidence + evidence)

    text = error_text(trigger)
    if trigger.type != "anomaly.detected" and text is not None:
        events = sum(context.instances.values()) or 1
        add(causes.classes_from_error(exception_of(trigger), text, events), 1.0)
        _weigh_workload_class(trigger, add)
    if context.errors:
        tally: Counter[str] = Counter()
        by_class: dict[str, tuple[float, list[dict[str, Any]]]] = {}
        for exception, error in context.errors:
            for cls, (score, evidence) in causes.classes_from_error(exception, error).items():
                tally[cls] += 1
                if cls not in by_class or by_class[cls][0] < score:
                    by_class[cls] = (score, evidence)
        for cls, count in tally.items():
            score, evidence = by_class[cls]
            if count >= causes.BURST_EVENTS:
                score += causes.BURST_BONUS
            note = {"kind": "concurrent-errors", "count": count, "service": context.service}
            add({cls: (score, [note, *evidence])}, CONCURRENT_WEIGHT)
    shapes = [(trigger.id, *_series_value(trigger))] if trigger.type == "anomaly.detected" else []
    shapes += [(a.id, *_series_value(a)) for a in context.anomalies]
    add(causes.classes_from_anomalies(shapes), 1.0)
    return [
        Hypothesis(
            cause=_class_cause(cls, trigger),
            kind="cause-class",
            score=round(score, 3),
            signal=cls,
            evidence=evidence[:12],
            cause_class=cls,
        )
        for cls, (score, evidence) in scores.items()
    ]


def _series_value(event: Event) -> tuple[str, float, float | None]:
    anomaly = AnomalyDetected.model_validate(event.payload)
    return anomaly.series, anomaly.value, anomaly.expected


def _class_cause(cls: str, trigger: Event) -> str:
    exception = exception_of(trigger)
    if exception:
        return f"{causes.TITLES[cls]}: {exception['type']}: {exception['message'][:160]}"
    text = error_text(trigger) or ""
    return f"{causes.TITLES[cls]}: {text[:160]}" if text else causes.TITLES[cls]


def _weigh_workload_class(trigger: Event, add: Any) -> None:
    """A huge unit of work (an import of many items) that failed is oversized work."""
    count = trigger.payload.get("bookmark_count") or trigger.payload.get("item_count")
    if isinstance(count, int | float) and count >= LARGE_IMPORT_BOOKMARKS:
        add({causes.OVERSIZED: (0.9, [{"kind": "workload", "items": count}])}, 1.0)


def _changes(trigger: Event, context: Context, service: str) -> list[Hypothesis]:
    """Deploys and config changes before the trigger, weighed by time and by novelty.

    A change explains an error (a regression) only if the error is new since the change;
    errors seen before it were not caused by it. Its weight halves every
    ``CHANGE_HALF_LIFE_MINUTES``; a change of another service counts a quarter.
    """
    found = []
    has_exception = exception_of(trigger) is not None
    for change in context.changes:
        minutes = max(0.0, (trigger.timestamp - change.timestamp).total_seconds() / 60)
        if change.timestamp > trigger.timestamp + CHANGE_SLACK:
            continue  # after the error: it cannot have caused it
        decay = 0.5 ** (minutes / CHANGE_HALF_LIFE_MINUTES)
        what = change.payload.get("version") or change.payload.get("key") or change.type
        evidence: dict[str, Any] = {
            "kind": "change",
            "event": change.id,
            "type": change.type,
            "service": change.source,
            "minutes_before": round(minutes, 1),
        }
        same_service = not service or change.source == service
        if trigger.type == "anomaly.detected":
            new, score = None, 0.5 * decay
        else:
            first = context.first_seen
            new = first is None or first >= change.timestamp - CHANGE_SLACK
            score = (1.3 + 0.2 * has_exception) * decay if new else 0.15 * decay
            evidence["new_since_change"] = new
            served = requests_served(service, change.timestamp, trigger.timestamp, CLEAN_REQUESTS)
            if new and served >= CLEAN_REQUESTS:
                score *= CLEAN_TRAFFIC_WEIGHT
                evidence["served_before"] = served
        if not same_service:
            score *= 0.25
        found.append(
            Hypothesis(
                cause=f"{change.type} {what} on {change.source} {minutes:.0f} min before"
                + ("" if new is not False else " (but the error was seen before it)"),
                kind="recent-change",
                score=round(score, 3),
                signal=causes.DEPLOY if new and same_service else "",
                evidence=[evidence],
                cause_class=causes.DEPLOY if new and same_service else "",
            )
        )  # fmt: skip
    return found


def _unknown(context: Context, service: str) -> Hypothesis:
    """ "Unknown cause, here is what changed": a valid answer when the evidence is weak."""
    changed = [
        f"{c.type} {c.payload.get('version') or c.payload.get('key') or ''} on {c.source}"
        for c in context.changes
    ]
    cause = "Unknown cause" + (f"; recent changes: {', '.join(changed[:3])}" if changed else "")
    return Hypothesis(
        cause=cause,
        kind="unknown",
        score=0.0,
        cause_class=causes.UNKNOWN,
        evidence=[{"kind": "change", "event": c.id, "type": c.type} for c in context.changes[:5]]
        + [{"kind": "service", "service": service}],
    )


def confidence(hypotheses: list[Hypothesis]) -> float:
    """The winner's share of the points, scaled by how well it is supported (0..1).

    Calibrated on purpose: an "unknown" winner is UNKNOWN_CONFIDENCE, and a winner under
    WEAK_SCORE (one weak piece of evidence) stays at or under 0.5 however alone it is.
    """
    if not hypotheses:
        return 0.0
    top = hypotheses[0]
    if top.kind == "unknown":
        return UNKNOWN_CONFIDENCE
    # A known problem is a specific case of some generic class, so the classes are not its
    # rivals (they restate it in general words); against a class, everything competes.
    rivals = [h for h in hypotheses if top.kind != "known-problem" or h.kind != "cause-class"]
    total = sum(max(h.score, 0.0) for h in rivals)
    share = top.score / total if total else 0.0
    support = min(1.0, top.score / 2.0)
    value = 0.5 * share + 0.5 * support
    if top.score < WEAK_SCORE:
        value = min(value, 0.5 * max(top.score, 0.0))
    return round(min(0.99, value), 3)
