"""Words instead of tokens and dicts: ``{{ text|readable }}`` (a log template without
``<*>``), ``{{ value|plain_data }}`` (stored JSON as lists and words), ``{{ value|plain_line }}``
(the same on one line, for a table cell), ``{{ h|hypothesis }}`` (a ranked hypothesis as a
sentence), ``{% evidence diagnosis.evidence %}`` (a diagnosis' evidence in sentences, the
rest readably), and the words an operator reads instead of codes and bare numbers:
``{{ at|ago }}`` ("just now", "3 minutes ago"; never "0 minutes ago"), ``{{ at|clock }}``
(the time of day, its zone on hover, ``{% zone %}`` for the heading), ``{{ run.action|action }}``
("Clear cache", not ``clear_cache``), ``{{ 0.92|percent }}`` ("92%")."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.safestring import SafeString

from core import humane
from core.plain_data import one_line, render
from knowledge.incident_text import evidence_sentences, hypothesis_sentence
from knowledge.incident_text import percent as _percent
from knowledge.incident_text import readable as _readable
from remediation.actions import action_title

register = template.Library()

#: Ids in stored data that name an object with a page of its own.
LINKS = {
    "problem": "dashboard:problem",
    "corroborating_problems": "dashboard:problem",
    "incident": "dashboard:incident",
    "run": "dashboard:run",
    "run_id": "dashboard:run",
}


@register.filter
def readable(text: object, limit: int = 300) -> str:
    return _readable(str(text or ""), int(limit))


@register.filter
def plain_data(value: Any) -> SafeString:
    return render(value, links=LINKS)


@register.filter
def plain_line(value: Any, limit: int = 160) -> str:
    return one_line(value, int(limit))


@register.filter
def hypothesis(value: Any) -> str:
    return hypothesis_sentence(value) if isinstance(value, dict) else _readable(str(value), 300)


@register.inclusion_tag("dashboard/evidence.html")
def evidence(value: Any, details: str = "Technical details", brief: bool = False) -> dict:
    """Sentences for what the diagnosis' evidence is known to say; the rest (the trigger's
    payload, unknown keys) behind a disclosure, rendered readably too. ``brief``: the
    sentences a narrow panel has room for, under a title that names the error already."""
    sentences, rest = evidence_sentences(value if isinstance(value, dict) else {}, brief=brief)
    return {"sentences": sentences, "rest": {} if brief else rest, "details": details}


@register.filter
def ago(moment: Any) -> str:
    return humane.ago(moment, empty="never")


@register.filter
def clock(moment: Any, zone: str = "") -> str:
    """``{{ at|clock }}``; ``{{ at|clock:"zone" }}`` says the zone on the page too."""
    return humane.clock(moment, zone=bool(zone))


@register.simple_tag
def zone() -> str:
    return humane.zone_name()


@register.filter
def action(name: object) -> str:
    return action_title(str(name or "")) or "—"


@register.filter
def percent(value: Any) -> str:
    try:
        return _percent(float(value))
    except (TypeError, ValueError):
        return "—"


#: /health's check names (``heartbeat:agent:bookmark-monitor``) are keys for machines.
CHECK_NAMES = {"database": "Database (PostgreSQL)", "redis": "Event mesh and cache (Redis)"}
HEARTBEAT_KINDS = {"agent": "Agent", "celery-worker": "Celery worker", "beat": "Scheduler (beat)"}


@register.filter
def check_name(name: object) -> str:
    """``heartbeat:agent:bookmark-monitor`` reads "Agent bookmark-monitor is alive"."""
    text = str(name or "")
    if text in CHECK_NAMES:
        return CHECK_NAMES[text]
    if not text.startswith("heartbeat:"):
        return text
    component = text.removeprefix("heartbeat:")
    kind, _, rest = component.partition(":")
    if not rest:  # "celery-worker@host": the kind is the part before the host
        kind, _, host = component.partition("@")
        rest = host and f"on {host}"
    label = HEARTBEAT_KINDS.get(kind, kind.replace("-", " ").capitalize())
    return f"{label} {rest} is alive".replace("  ", " ")


@register.filter
def words(code: object) -> str:
    """A stored code as words: ``awaiting_approval`` reads "awaiting approval"."""
    return str(code or "").replace("_", " ")
