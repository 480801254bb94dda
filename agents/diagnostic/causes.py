"""Generic cause classes: what any application's evidence can say about why it fails.

The curated catalogue knows one application's problems by name; a newly onboarded service
has none of them. What every service does produce is an exception type and message, its
request rate and latency, and (when its deploy script says so) deploys and config changes.
From those alone a few causes can be told apart, and each is named by a class that rules and
solutions can match on:

* ``database-contention`` -- locks, deadlocks, lock or statement timeouts in the database;
* ``upstream-dependency`` -- a service this one calls refuses, resets or stops answering
  (connection errors, timeouts; as anomalies: latency up while throughput goes down);
* ``resource-exhaustion`` -- memory, disk, file descriptors, pools and connection limits;
* ``oversized-work`` -- a request or job too large for its limits (a huge upload or import);
* ``malformed-input`` -- input the service cannot parse or decode;
* ``deploy-regression`` -- a new exception type since a deploy or configuration change
  (weighed in :mod:`agents.diagnostic.reasoning`, which reads the changes).

Evidence is weighed, not voted: the exception's *type* is strong evidence (it is what the
code raised), words of the message weaker, an anomaly's shape weaker still. Scores are on the
same scale as the other hypotheses (see :func:`agents.diagnostic.reasoning.confidence`):
about 1.0 is "one clear piece of evidence", under it is weak.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

DATABASE = "database-contention"
UPSTREAM = "upstream-dependency"
RESOURCES = "resource-exhaustion"
OVERSIZED = "oversized-work"
MALFORMED = "malformed-input"
DEPLOY = "deploy-regression"
UNKNOWN = "unknown"

#: What an operator reads for each class (a hypothesis' cause starts with it).
TITLES = {
    DATABASE: "Database contention (locks or lock timeouts)",
    UPSTREAM: "An upstream dependency is failing or hanging",
    RESOURCES: "A resource is exhausted",
    OVERSIZED: "Oversized work (a request or job beyond its limits)",
    MALFORMED: "Malformed input",
    DEPLOY: "A regression shipped by a recent change",
    UNKNOWN: "Unknown cause",
}

#: Scores: the exception's type names the cause; its message's words suggest it.
TYPE_WEIGHT = 1.2
WORDS_WEIGHT = 0.9
#: A burst (several events of the error) is a little more convincing than one.
BURST_BONUS = 0.15
BURST_EVENTS = 3


@dataclass(frozen=True)
class Clue:
    """Patterns for one class: on the exception type, and on the message (or error text)."""

    cause: str
    type_pattern: re.Pattern[str]
    words: re.Pattern[str]


def _re(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.I)


# First match per source wins within a class; classes are scored independently. The lock
# class is tested before the upstream one and wins ties: "lock wait timeout" is both.
CLUES: tuple[Clue, ...] = (
    Clue(
        DATABASE,
        _re(r"deadlock|lock(not)?available|lockwait|lock_?timeout|serializ(ation|e)failure"),
        _re(
            r"database is locked|database table is locked|deadlock|lock wait timeout|"
            r"could not obtain lock|lock timeout|canceling statement due to lock|"
            r"could not serialize access|row lock|table lock"
        ),
    ),
    Clue(
        UPSTREAM,
        _re(
            r"connection(error|refused|reset|aborted)|timeout(error)?$|timedout|readtimeout|"
            r"connecttimeout|remotedisconnected|protocolerror|gaierror|"
            r"serviceunavailable|badgateway|gatewaytimeout|urlerror|brokenpipe"
        ),
        _re(
            r"connection (refused|reset|aborted|closed)|timed? ?out|timeout|"
            r"name or service not known|temporary failure in name resolution|"
            r"no route to host|unreachable|bad gateway|gateway time-?out|"
            r"service unavailable|remote end closed|broken pipe|\b50[234]\b"
        ),
    ),
    Clue(
        RESOURCES,
        _re(
            r"memoryerror|outofmemory|oom|diskfull|quotaexceeded|toomanyconnections|"
            r"pooltimeout|poolexhausted|resourceexhausted"
        ),
        _re(
            r"out of memory|cannot allocate|memory limit|no space left|disk full|"
            r"quota exceeded|too many open files|too many connections|pool exhausted|"
            r"remaining connection slots|resource temporarily unavailable"
        ),
    ),
    Clue(
        OVERSIZED,
        _re(
            r"requestdatatoobig|toomanyfields|payloadtoolarge|filetoolarge|toolarge|"
            r"entitytoolarge|requestentitytoolarge"
        ),
        _re(
            r"too (large|big)|exceeds? (the )?(maximum|limit|size)|payload too large|"
            r"request body|data_upload_max|file_upload_max|413\b|size limit"
        ),
    ),
    Clue(
        MALFORMED,
        _re(
            r"decodeerror|parseerror|unicodedecodeerror|jsondecodeerror|"
            r"multipartparsererror|badrequest|suspiciousoperation|validationerror"
        ),
        _re(
            r"malformed|could not parse|cannot parse|unexpected token|invalid (json|xml|"
            r"html|utf|format|header|boundary)|can't decode|codec can't|not well-formed"
        ),
    ),
)

#: Anomaly series families that say something about a cause (the monitor's names).
LATENCY_SERIES = ("api.latency",)
THROUGHPUT_SERIES = ("api.requests", "api.throughput")


def _short_type(exception_type: str) -> str:
    """``django.db.utils.OperationalError`` -> ``operationalerror`` (for the type patterns)."""
    return exception_type.rsplit(".", 1)[-1].lower()


def classes_from_error(
    exception: Mapping[str, Any] | None, text: str, events: int = 1
) -> dict[str, tuple[float, list[dict[str, Any]]]]:
    """Cause class -> (score, evidence) from one error: its exception and its words."""
    found: dict[str, tuple[float, list[dict[str, Any]]]] = {}
    exc_type = str(exception.get("type", "")) if exception else ""
    message = f"{exception.get('message', '')} {text}" if exception else text
    for clue in CLUES:
        score, evidence = 0.0, []
        if exc_type and clue.type_pattern.search(_short_type(exc_type)):
            score += TYPE_WEIGHT
            evidence.append({"kind": "exception-type", "type": exc_type})
        match = clue.words.search(message)
        if match:
            # The words add less when the type already said it: one fact, seen twice.
            score += WORDS_WEIGHT if not score else WORDS_WEIGHT / 3
            evidence.append({"kind": "message", "words": match.group(0)})
        if score:
            if events >= BURST_EVENTS:
                score += BURST_BONUS
                evidence.append({"kind": "burst", "events": events})
            found[clue.cause] = (score, evidence)
    return found


def classes_from_anomalies(
    anomalies: Iterable[tuple[str, str, float, float | None]], *, trigger_series: str = ""
) -> dict[str, tuple[float, list[dict[str, Any]]]]:
    """Cause class -> (score, evidence) from anomalies: (event id, series, value, expected).

    Latency up together with throughput down is the shape of a hang upstream (requests wait,
    so fewer finish). Latency up alone says only "slow": no class. ``trigger_series`` is
    the diagnosis' own anomaly, which is its symptom and never counted as its explanation.
    """
    slow, fewer = [], []
    for event_id, series, value, expected in anomalies:
        if trigger_series and series == trigger_series:
            continue
        base = series.partition("{")[0]
        if base.startswith(LATENCY_SERIES) and (expected is None or value > expected):
            slow.append({"kind": "anomaly", "event": event_id, "series": series})
        elif base.startswith(THROUGHPUT_SERIES) and expected is not None and value < expected:
            fewer.append({"kind": "anomaly", "event": event_id, "series": series})
    if slow and fewer:
        return {UPSTREAM: (0.7, slow[:3] + fewer[:3])}
    return {}


def trigger_shape(series: str, value: float, expected: float | None) -> str:
    """``latency-up``, ``throughput-down``, ``errors-up`` or ``""`` for an anomaly's series."""
    base = series.partition("{")[0]
    if base.startswith(LATENCY_SERIES):
        return "latency-up"
    if base.startswith(THROUGHPUT_SERIES) and expected is not None and value < expected:
        return "throughput-down"
    if "error" in base or base.endswith(".failed"):
        return "errors-up"
    return ""
