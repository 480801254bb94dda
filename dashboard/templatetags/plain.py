"""``{{ text|readable }}``: a log template or message as a person would read it (no ``<*>``)."""

from __future__ import annotations

from django import template

from knowledge.incident_text import readable as _readable

register = template.Library()


@register.filter
def readable(text: object, limit: int = 300) -> str:
    return _readable(str(text or ""), int(limit))
