"""Words instead of tokens and dicts: ``{{ text|readable }}`` (a log template without
``<*>``), ``{{ value|plain_data }}`` (stored JSON as lists and words), ``{{ value|plain_line }}``
(the same on one line, for a table cell), ``{{ h|hypothesis }}`` (a ranked hypothesis as a
sentence) and ``{% evidence diagnosis.evidence %}`` (a diagnosis' evidence in sentences, the
rest readably)."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.safestring import SafeString

from core.plain_data import one_line, render
from knowledge.incident_text import evidence_sentences, hypothesis_sentence
from knowledge.incident_text import readable as _readable

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
