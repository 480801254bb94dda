"""Plain-language words for incidents: titles and sentences without template tokens.

Pure functions (no Django), used by the incident services, the data migration and the
pages. A log template such as ``HTMLParseError: HTMLParseError: bad tag <*> at line <*>``
becomes ``HTMLParseError: bad tag … at line …``: the masked parts are elided, never shown
as ``<*>``, and the doubled prefix some loggers write is said once.
"""

from __future__ import annotations

import re

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


def is_catalogue(fingerprint: str) -> bool:
    return fingerprint.startswith(CATALOGUE_PREFIX)


def incident_title(
    *, problem_title: str, problem_fingerprint: str, catalogue_title: str | None, message: str
) -> str:
    """The catalogue problem's name when the diagnosis matched one, else the error, readable."""
    if is_catalogue(problem_fingerprint):
        return readable(problem_title)
    if catalogue_title:
        return readable(catalogue_title)
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
    words = ", ".join(f"{k} {v}" for k, v in item.items() if k != "kind" and v not in ("", None))
    return readable(f"{kind or 'evidence'}: {words}" if words else str(kind), 160)
