"""Plain-language words for incidents: titles and sentences without template tokens.

Pure functions (no database), used by the incident services, the data migration and the
pages. A log template such as ``HTMLParseError: HTMLParseError: bad tag <*> at line <*>``
becomes ``HTMLParseError: bad tag … at line …``: the masked parts are elided, never shown
as ``<*>``, and the doubled prefix some loggers write is said once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from core.plain_data import label, number

CATALOGUE_PREFIX = "catalogue:"
TITLE_LENGTH = 120
_TOKEN = re.compile(r"<\s*[*A-Z_:]*\s*>")
_SPACES = re.compile(r"\s+")
_ELLIPSES = re.compile(r"(…\s*){2,}")
_DOUBLED_PREFIX = re.compile(r"^([\w.]+):\s+\1:\s*")


def readable(text: str, limit: int = TITLE_LENGTH) -> str:
    """A template or message as a person would say it: tokens elided, one line, bounded."""
    text = _TOKEN.sub("…", text or "")
    text = _SPACES.sub(" ", text).strip()
    text = _ELLIPSES.sub("… ", text).strip()
    text = _DOUBLED_PREFIX.sub(r"\1: ", text)
    text = text.replace("{", "(").replace("}", ")")
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text or "Unrecognised error"


#: Plain words for an anomaly's metric family (first matching prefix wins).
_METRIC_WORDS = (
    ("api.latency", "Slow responses"),
    ("api.error_rate", "More requests failing"),
    ("api.throughput", "Fewer requests finishing"),
    ("api.requests", "Unusual number of requests"),
    ("search.latency", "Slow searches"),
    ("db.", "Slow database queries"),
    ("imports.failed", "More imports failing"),
    ("process.memory", "Memory use out of its usual range"),
)
_ANOMALY_PREFIX = "Anomaly on "


def metric_title(series: str) -> str:
    """An anomaly's series as an operator says it: ``api.latency_p95{endpoint=/x/}`` is
    "Slow responses on /x/ (p95)", never the raw metric name with its braces."""
    base, _, inner = series.partition("{")
    labels = dict(part.split("=", 1) for part in inner.rstrip("}").split(",") if "=" in part)
    words = next((w for prefix, w in _METRIC_WORDS if base.startswith(prefix)), "")
    if not words:
        return readable(f"Unusual {base.replace('.', ' ').replace('_', ' ')}")
    where = labels.get("endpoint") or labels.get("service") or ""
    stat = base.rpartition("_")[2] if "_" in base else ""
    detail = f" ({stat})" if stat in ("p50", "p95", "p99", "mean", "max") else ""
    return readable(f"{words}{f' on {where}' if where else ''}{detail}")


def is_catalogue(fingerprint: str) -> bool:
    return fingerprint.startswith(CATALOGUE_PREFIX)


def incident_title(
    *,
    problem_title: str,
    problem_fingerprint: str,
    catalogue_title: str | None,
    message: str,
    general: bool = False,
) -> str:
    """The catalogue problem's name when the diagnosis matched one, else the error, readable.

    ``general``: the problem covers values the error names as words (its template has a slot
    where the line has a user name), so its title, not the line, says what the incident is.
    """
    if is_catalogue(problem_fingerprint):
        return readable(problem_title)
    if catalogue_title:
        return readable(catalogue_title)
    if general:
        return readable(problem_title)
    if message.startswith(_ANOMALY_PREFIX) and "." in message:
        return metric_title(message.removeprefix(_ANOMALY_PREFIX).strip())
    return readable(message or problem_title)


def percent(value: float) -> str:
    return f"{round(value * 100)}%"


def hypothesis_sentence(hypothesis: dict) -> str:
    """One ranked hypothesis as a sentence: what, how sure, on what grounds."""
    cause = readable(str(hypothesis.get("cause", "")), 200)
    kind = str(hypothesis.get("kind", ""))
    lead = {
        "known-problem": f"It looks like a known problem: {cause}",
        "recent-change": f"A recent change may have caused it: {cause}",
        "correlated-anomaly": f"It coincides with {cause}",
    }.get(kind, cause)
    evidence = [evidence_phrase(e) for e in hypothesis.get("evidence") or []][:3]
    reasons = f" ({'; '.join(evidence)})" if evidence else ""
    return f"{lead}{reasons}."


def evidence_phrase(item: object) -> str:
    """One piece of a hypothesis' evidence in words (they are stored as small dicts)."""
    if not isinstance(item, dict):
        return readable(str(item), 160)
    kind = item.get("kind")
    if kind == "similar-problem" and item.get("similarity") is not None:
        return f"the error reads {percent(float(item['similarity']))} like it"
    if kind == "change":
        return f"{item.get('type', 'a change')} {item.get('minutes_before', '?')} min before"
    if kind == "anomaly":
        return f"an anomaly on {readable(str(item.get('series', '')), 80)}"
    phrase = _CAUSE_PHRASES.get(str(kind))
    if phrase is not None:
        try:
            return readable(phrase.format_map(item), 160)
        except (KeyError, ValueError):
            pass  # a field the phrase needs is missing: said generically below
    # Unknown kinds: scalar fields with their names, nested values left to the details.
    words = ", ".join(
        f"{label(k).lower()} {_scalar_words(v)}"
        for k, v in item.items()
        if k != "kind" and v not in ("", None) and not isinstance(v, dict | list)
    )
    what = label(kind) if kind else "Evidence"
    return readable(f"{what}: {words}" if words else what, 160)


# Phrases for the evidence items the diagnostic agent's cause classes write.
_CAUSE_PHRASES = {
    "exception-type": "a {type} was raised",
    "message": "the error says “{words}”",
    "burst": "{events} errors in a burst",
    "concurrent-errors": "{count} errors at the same time on {service}",
    "service": "on {service}",
    "workload": "an import of {bookmark_count} bookmarks",
}


def _scalar_words(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return number(value)
    return str(value)


# --- A diagnosis' evidence -----------------------------------------------------------------------

#: Keys :func:`evidence_sentences` says in words; the rest is shown by the generic renderer.
SAID_KEYS = frozenset({
    "root_cause", "message", "instances", "affected_users", "event_ids", "similar",
    "corroboration", "corroborating_problems",
})  # fmt: skip


def evidence_sentences(
    evidence: Mapping[str, Any] | None, *, brief: bool = False
) -> tuple[list[str], dict[str, Any]]:
    """A diagnosis' evidence (or a run's, which copies it) as sentences, and what is left.

    The left-over part (the trigger's payload, keys written by newer agents) has no fixed
    shape and goes to the generic renderer, ``core.plain_data.render``. ``brief`` leaves out
    the cause and the error's words, for a place whose title already says them.
    """
    evidence = evidence or {}
    said = [
        "" if brief else _root_cause(evidence.get("root_cause")),
        "" if brief else _message(evidence.get("message")),
        _anomaly(evidence.get("trigger")),
        _instances(evidence.get("instances")),
        _users(evidence.get("affected_users")),
        _events(evidence.get("event_ids")),
        _similar(evidence.get("similar")),
        *_corroboration(evidence.get("corroboration")),
    ]
    rest = {k: v for k, v in evidence.items() if k not in SAID_KEYS and v not in ("", None, [], {})}
    return [sentence for sentence in said if sentence], rest


def _root_cause(cause: object) -> str:
    return f"Diagnosed cause: {readable(str(cause), 200)}." if cause else ""


def _message(message: object) -> str:
    return f"The error read: “{readable(str(message), 300)}”" if message else ""


def _anomaly(trigger: object) -> str:
    """An anomaly trigger in words: what the metric was against what is usual. The title
    ("Anomaly on api.error_rate") names the metric but not how far off it was."""
    if not isinstance(trigger, Mapping) or not trigger.get("series"):
        return ""
    value, expected = trigger.get("value"), trigger.get("expected")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (value, expected)):
        return ""
    series = readable(str(trigger["series"]), 120)
    said = f"{series} was {number(value)} where about {number(expected)} is usual"
    if expected > 0 and value > 0:
        ratio = value / expected
        times = f"{max(ratio, 1 / ratio):.1f}".removesuffix(".0")
        said += f" ({times} times as high)" if ratio >= 1 else f" ({times} times lower)"
    return said + "."


def _instances(instances: object) -> str:
    if not isinstance(instances, dict) or not instances:
        return ""
    ranked = sorted(instances.items(), key=lambda item: -_count(item[1]))
    # The first count says what the numbers mean ("12 times"); the others follow its lead.
    parts = [
        f"{name or 'an unnamed instance'} ({_times(_count(n)) if i == 0 else _count(n)})"
        for i, (name, n) in enumerate(ranked)
    ]
    return f"Seen on {_and(parts)}."


def _count(value: object) -> int:
    return int(value) if isinstance(value, int | float) else 0


def _times(count: int) -> str:
    return "once" if count == 1 else f"{count} times"


def _users(users: object) -> str:
    if not isinstance(users, int) or isinstance(users, bool):
        return ""
    if users == 0:
        return "No signed-in users affected."
    return f"{users} user{'s' if users != 1 else ''} affected."


def _events(event_ids: object) -> str:
    if not isinstance(event_ids, list) or not event_ids:
        return ""
    # The agent keeps the first 50 ids of a batch: a full list means "at least".
    many = f"{len(event_ids)} or more events" if len(event_ids) >= 50 else ""
    return f"Drawn from {many or _plural(len(event_ids), 'event')}."


def _similar(similar: object) -> str:
    if not isinstance(similar, list):
        return ""
    known = [
        f"{readable(str(s.get('title', '')), 90)} ({percent(float(s['score']))})"
        for s in similar
        if isinstance(s, dict) and isinstance(s.get("score"), int | float)
    ]
    if not known:
        return "No similar known problems."
    return f"Similar known problems: {'; '.join(known[:5])}."


def _corroboration(items: object) -> list[str]:
    if not isinstance(items, list):
        return []
    sentences = []
    for item in items:
        if not isinstance(item, dict):
            continue
        what = readable(str(item.get("message") or item.get("type") or "another error"), 160)
        raised, alone = item.get("raised_to"), item.get("confidence")
        if isinstance(raised, int | float):
            why = f" (raised confidence to {percent(float(raised))})"
        elif isinstance(alone, int | float):
            why = f" ({percent(float(alone))} confident on its own)"
        else:
            why = ""
        sentences.append(f"Also seen: {what}{why}.")
    return sentences


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _and(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"
