"""Root-cause reasoning for the diagnostic agent: plain functions, testable without workers.

A diagnosis starts from one error (an import failure, an error log line, a firing alert, an
anomaly). It is fingerprinted into a problem of the knowledge graph, then explained by
ranked hypotheses, each with the evidence that supports it:

* **known problem** — the curated problems closest in meaning (vector similarity); a known
  problem carries the ``signal`` that remediation rules match on (``import_timeout``);
* **recent change** — a deploy or configuration change shortly before the error;
* **correlated anomaly** — anomalies on other series in the minutes around it;
* **workload** — the trigger's own context (a huge import, one instance or many).

Scores are additive and explainable: every hypothesis lists the evidence that earned it
points, and the confidence of the winner is its share of all points, tempered by how
closely the error matches what we know.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from agents import mesh
from agents.events import Event
from agents.payloads import ExceptionInfo
from agents.system_events import AnomalyDetected

CHANGE_WINDOW = timedelta(minutes=30)
ANOMALY_WINDOW = timedelta(minutes=5)
LARGE_IMPORT_BOOKMARKS = 10_000
SMALL_IMPORT_BOOKMARKS = 2_000
MIN_SIMILARITY = 0.3
CATEGORY_PRIOR = 0.2

# (pattern, category, severity): first match wins. Words, not services, so it generalises.
_CLASSIFIERS: list[tuple[re.Pattern[str], str, str]] = [
    (re.compile(r"duplicate key|unique constraint|already exists|integrity", re.I),
     "data-integrity", "error"),
    (re.compile(r"out of memory|oom|memoryerror|memory limit|cannot allocate", re.I),
     "capacity", "critical"),
    (re.compile(r"no space left|disk full|quota exceeded", re.I), "capacity", "critical"),
    (re.compile(r"certificate|ssl|tls|x509", re.I), "security", "critical"),
    (re.compile(r"permission denied|forbidden|unauthori[sz]ed|csrf", re.I), "security", "error"),
    (re.compile(r"timed? ?out|timeout|deadline exceeded|too slow", re.I), "performance", "error"),
    (re.compile(r"connection (refused|reset)|unreachable|unavailable|pool exhausted|"
                r"too many connections|5\d\d|bad gateway", re.I), "availability", "error"),
    (re.compile(r"parse|malformed|invalid|decode|encoding|unexpected token|schema", re.I),
     "data-integrity", "warning"),
    (re.compile(r"config|setting|feature flag|environment variable", re.I),
     "configuration", "error"),
]  # fmt: skip


def classify_error(message: str, event_type: str = "") -> tuple[str, str]:
    """A category of the knowledge graph's taxonomy and a severity for an error text."""
    if event_type.startswith("import."):
        for pattern, category, severity in _CLASSIFIERS:
            if pattern.search(message):
                return ("import" if category in {"performance", "capacity"} else category), severity
        return "import", "error"
    for pattern, category, severity in _CLASSIFIERS:
        if pattern.search(message):
            return category, severity
    return "other", "error"


def error_text(event: Event) -> str | None:
    """The text to fingerprint for a triggering event, or None when it is not an error."""
    payload = event.payload
    if event.type == "import.failed":
        kind = payload.get("error_type")
        return f"{kind}: {payload['error']}" if kind else str(payload["error"])
    if event.type == "log.line":
        if str(payload.get("level", "")).upper() not in {"ERROR", "CRITICAL", "FATAL"}:
            return None
        return str(payload["message"])
    if event.type == "alert.firing":
        summary = payload.get("annotations", {}).get("summary") or payload.get("alertname")
        return f"alert {payload.get('alertname')}: {summary}"
    if event.type == "anomaly.detected":
        return f"Anomaly on {AnomalyDetected.model_validate(payload).series}"
    return None


def exception_of(event: Event) -> dict[str, Any] | None:
    """The structured exception an error event carries (``log.line``, ``import.failed``)."""
    raw = event.payload.get("exception") if event.type in ("log.line", "import.failed") else None
    if not raw:
        return None
    # Validated at the edge; parsed again for typed fields and the defaults filled in.
    return ExceptionInfo.model_validate(raw).model_dump()


@dataclass
class Hypothesis:
    cause: str
    kind: str  # known-problem, recent-change, correlated-anomaly, workload
    score: float
    signal: str = ""
    problem_id: int | None = None
    evidence: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Context:
    """The system state around an error, read from the streams (the record of what happened)."""

    changes: list[Event] = field(default_factory=list)
    anomalies: list[Event] = field(default_factory=list)
    instances: Counter[str] = field(default_factory=Counter)
    users: set[str] = field(default_factory=set)


def gather_context(at: datetime, *, triggers: list[Event]) -> Context:
    context = Context()
    for event_type in ("deploy.finished", "config.changed"):
        context.changes += [d.event for d in mesh.replay(event_type, since=at - CHANGE_WINDOW)]
    context.anomalies = [
        d.event for d in mesh.replay("anomaly.detected", since=at - ANOMALY_WINDOW)
    ]
    for event in triggers:
        context.instances[event.instance or event.source] += 1
        if user := event.payload.get("user_id"):
            context.users.add(str(user))
    return context


def rank_hypotheses(
    trigger: Event,
    similar: list[tuple[Any, float]],
    context: Context,
) -> list[Hypothesis]:
    """Hypotheses for one trigger, best first. ``similar`` is [(Problem, score)]."""
    hypotheses: list[Hypothesis] = []
    category, _ = classify_error(error_text(trigger) or "", trigger.type)
    for problem, similarity in similar:
        if similarity < MIN_SIMILARITY or not getattr(problem, "signal", ""):
            continue
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
    _weigh_workload(trigger, hypotheses)
    for change in context.changes:
        minutes = max(0.0, (trigger.timestamp - change.timestamp).total_seconds() / 60)
        what = change.payload.get("version") or change.payload.get("key") or change.type
        hypotheses.append(
            Hypothesis(
                cause=f"{change.type} {what} on {change.source} {minutes:.0f} min before",
                kind="recent-change",
                score=0.8 * max(0.1, 1 - minutes / (CHANGE_WINDOW.total_seconds() / 60)),
                evidence=[{"kind": "change", "event": change.id, "type": change.type,
                           "minutes_before": round(minutes, 1)}],
            )
        )  # fmt: skip
    if context.anomalies:
        anomalies = [(a, AnomalyDetected.model_validate(a.payload)) for a in context.anomalies]
        series = sorted({anomaly.series for _, anomaly in anomalies})
        evidence = [{"kind": "anomaly", "event": a.id, "series": anomaly.series}
                    for a, anomaly in anomalies[:10]]  # fmt: skip
        for hypothesis in hypotheses:
            if hypothesis.kind == "known-problem":
                hypothesis.score += 0.2
                hypothesis.evidence += evidence[:3]
        hypotheses.append(
            Hypothesis(
                cause="correlated anomalies on " + ", ".join(series[:5]),
                kind="correlated-anomaly",
                score=0.3 + 0.1 * min(len(series), 5),
                evidence=evidence,
            )
        )
    hypotheses.sort(key=lambda h: -h.score)
    return hypotheses


def _weigh_workload(trigger: Event, hypotheses: list[Hypothesis]) -> None:
    """A huge import makes timeout and memory explanations likelier, and says so; a small
    one makes "the file is too large" unlikely (something else starved the worker)."""
    count = trigger.payload.get("bookmark_count")
    if trigger.type != "import.failed" or count is None:
        return
    if count < SMALL_IMPORT_BOOKMARKS:
        for hypothesis in hypotheses:
            if hypothesis.kind == "known-problem" and re.search(
                r"\blarge\b", hypothesis.cause, re.I
            ):
                hypothesis.score -= 0.3
                hypothesis.evidence.append(
                    {"kind": "workload", "bookmark_count": count, "note": "a small import"}
                )
        return
    if count < LARGE_IMPORT_BOOKMARKS:
        return
    for hypothesis in hypotheses:
        if hypothesis.kind == "known-problem" and re.search(
            r"timeout|memory|large|batch", hypothesis.signal + hypothesis.cause, re.I
        ):
            hypothesis.score += 0.3
            hypothesis.evidence.append(
                {"kind": "workload", "bookmark_count": count,
                 "batch_size": trigger.payload.get("batch_size"),
                 "source": trigger.payload.get("source")}
            )  # fmt: skip


def confidence(hypotheses: list[Hypothesis]) -> float:
    """The winner's share of the points, scaled by how well it is supported (0..1)."""
    if not hypotheses:
        return 0.0
    total = sum(max(h.score, 0.0) for h in hypotheses)
    share = hypotheses[0].score / total if total else 0.0
    support = min(1.0, hypotheses[0].score / 2.0)
    return round(min(0.99, 0.5 * share + 0.5 * support), 3)
