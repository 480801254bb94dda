"""Stored data as a person reads it: the one renderer of JSON for operators and curators.

Diagnoses, runs, anomalies and audit entries keep their evidence as JSON. Shown with
``pprint`` or as the admin's JSON text it is ``{'affected_users': 12, ...}`` at 3 a.m.;
shown here it is a definition list with "Affected users" and "12", a list says "web-1,
web-2 and 3 more", a time says "3 minutes ago" (exact on hover), a boolean says yes or
no. Every string is escaped (evidence carries what services and users wrote), long text
wraps (CSS ``.data``) and is never clipped.

Where a shape is known, sentences say it better (``knowledge.incident_text``); this is the
fallback for the rest, and what the admin shows for every read-only JSON field through
:class:`ReadableJSONAdmin`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from django import forms
from django.contrib import admin
from django.contrib.postgres.forms import SimpleArrayField
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import capfirst

from core.humane import ago

#: Items of a list shown before "and N more": enough to judge, short enough to scan.
LIST_ITEMS = 8
#: Nesting deeper than this is said in one line (no stored evidence goes this deep).
MAX_DEPTH = 6
EMPTY = "none"

_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
# A metric series with labels, ``latency_ms{endpoint=/api}``: said as the pages say it
# (``knowledge.incident_text.readable``), "latency_ms (endpoint=/api)", not as a dict.
_SERIES = re.compile(r"^([\w.:-]+)\{([^{}]*)\}$")
# A key that is a name in code (snake_case, camelCase) is said in words; any other key is
# data itself (an instance "web-2", a header "X-Request-Id", a tag) and is shown as written.
_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9]*(_[A-Za-z0-9]+)*$")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
# Words a key spells in lower case that a person writes otherwise.
_WORDS = {"id": "ID", "ids": "IDs", "url": "URL", "ms": "(ms)", "http": "HTTP", "api": "API"}

#: key -> URL name taking the object's pk, e.g. ``{"problem": "dashboard:problem"}``.
Links = Mapping[str, str]


def label(key: object) -> str:
    """A stored key as a heading: ``affected_users`` -> "Affected users"; ``web-2`` stays."""
    text = str(key)
    if not text.strip():
        return "(no name)"
    if not _IDENTIFIER.match(text):
        return text
    words = [_WORDS.get(w.lower(), w.lower()) for w in _CAMEL.sub("_", text).split("_")]
    first = words[0]
    return " ".join([first[:1].upper() + first[1:], *words[1:]])


def number(value: float) -> str:
    """A number without float noise: 0.9134 -> "0.913", 12.0 -> "12", 0.00004 -> "4e-05"."""
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    if abs(value) < 0.001:
        return f"{value:.2g}"
    return str(round(value, 3))


def is_empty(value: object) -> bool:
    return value is None or value == "" or value == [] or value == {}


def render(value: Any, *, links: Links | None = None) -> SafeString:
    """``value`` (anything JSON holds) as escaped HTML an operator reads."""
    return _render(value, "", links or {}, 0)


def _render(value: Any, key: str, links: Links, depth: int) -> SafeString:
    # [None, None] (an unknown range) says nothing more than one empty value: not "None, None".
    if is_empty(value) or (isinstance(value, list | tuple) and all(map(is_empty, value))):
        return format_html('<span class="data-empty">{}</span>', EMPTY)
    if depth >= MAX_DEPTH:
        return format_html("{}", one_line(value))
    if isinstance(value, Mapping):
        # By label: PostgreSQL's jsonb keeps keys shortest first, which reads as no order.
        items = sorted(((label(k), str(k), v) for k, v in value.items()), key=lambda i: i[0])
        rows = format_html_join(
            "", "<dt>{}</dt><dd>{}</dd>",
            ((name, _render(v, k, links, depth + 1)) for name, k, v in items),
        )  # fmt: skip
        return format_html('<dl class="data">{}</dl>', rows)
    if isinstance(value, list | tuple):
        return _list(list(value), key, links, depth)
    return _scalar(value, key, links)


def _list(items: list[Any], key: str, links: Links, depth: int) -> SafeString:
    shown, more = items[:LIST_ITEMS], len(items) - LIST_ITEMS
    tail = format_html(" and {} more", more) if more > 0 else ""
    if all(not isinstance(item, Mapping | list | tuple) for item in items):
        # Ids, instances, tags: one line of words reads better than a column of bullets.
        words = format_html_join(", ", "{}", ((_scalar(item, key, links),) for item in shown))
        return format_html('<span class="data-list">{}{}</span>', words, tail)
    rows = format_html_join(
        "", "<li>{}</li>", ((_render(item, key, links, depth + 1),) for item in shown)
    )
    more_row = format_html('<li class="muted">{}</li>', tail.strip()) if tail else ""
    return format_html('<ul class="data">{}{}</ul>', rows, more_row)


def _scalar(value: Any, key: str, links: Links) -> SafeString:
    if value is None:  # in a list beside real values: the empty mark, never Python's "None"
        return format_html('<span class="data-empty">{}</span>', EMPTY)
    if isinstance(value, bool):
        return format_html("{}", "yes" if value else "no")
    if isinstance(value, int | float):
        text = number(value)
        url = _link(key, value, links) if isinstance(value, int) else None
        return format_html('<a href="{}">{}</a>', url, text) if url else format_html("{}", text)
    text = str(value)
    if _ISO_TIME.match(text):
        moment = parse_datetime(text)
        if moment is not None and moment.tzinfo is not None:
            return ago(moment)
    series = _SERIES.match(text)
    if series:
        text = f"{series[1]} ({series[2]})"
    return format_html('<span class="data-text">{}</span>', text)


def _link(key: str, pk: int, links: Links) -> str | None:
    name = links.get(key)
    if not name:
        return None
    try:
        return reverse(name, args=[pk])
    except NoReverseMatch:
        return None


def one_line(value: Any, limit: int = 0) -> str:
    """``value`` as one line of plain text ("Error: timeout; Retryable: no"), for a table
    cell with no room for a list; cut at ``limit`` characters with "…" when given."""
    text = _words(value)
    return text[: limit - 1].rstrip() + "…" if 0 < limit < len(text) else text


def _words(value: Any) -> str:
    if is_empty(value) or (isinstance(value, list | tuple) and all(map(is_empty, value))):
        return EMPTY
    if isinstance(value, Mapping):
        return "; ".join(f"{label(k)}: {_words(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_words(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return number(value)
    return str(value)


# --- The admin -----------------------------------------------------------------------------------


#: A field's own renderer: the stored value and the admin's links -> HTML.
Renderer = Callable[[Any, Links], SafeString]


def readable_field(
    name: str, description: str, links: Links, renderer: Renderer | None = None
) -> Callable[[Any], SafeString]:
    """A read-only admin field showing JSON field ``name`` through ``renderer`` (a shape the
    admin knows, said in sentences) or else :func:`render`."""

    def show(obj: Any) -> SafeString:
        value = getattr(obj, name)
        return renderer(value, links) if renderer else render(value, links=links)

    # The row keeps the class "field-<name>" a plain field gets, for styles and tests.
    show.__name__ = name
    return admin.display(description=description)(show)


def _json_words(text: str) -> list[str] | None:
    """``text`` as a JSON list of strings, or None when it is not one."""
    if not text.strip().startswith("["):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return [item.strip() for item in value if item.strip()]
    return None


class LinesField(SimpleArrayField):
    """A JSON list of words edited one item a line: ``["events:write", "registry"]`` in a
    text box made people type brackets and quotes (and a missing quote refused the form).
    Blank lines are skipped (a trailing newline is not an empty item); each line is stripped
    (browsers send ``\r\n``). A JSON list of words, as the field was typed before (and as
    scripts still post it), is read as that list, not as one item named ``[]``."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 3, "cols": 60}))
        super().__init__(forms.CharField(), delimiter="\n", **kwargs)

    def to_python(self, value: Any) -> list[str]:
        if isinstance(value, str):
            typed_as_json = _json_words(value)
            if typed_as_json is not None:
                return typed_as_json
            value = "\n".join(line for line in value.splitlines() if line.strip())
        return super().to_python(value)

    def prepare_value(self, value: Any) -> Any:
        # Non-words (a number someone stored) are shown as their text rather than refused.
        if isinstance(value, list):
            return "\n".join(str(item) for item in value)
        return super().prepare_value(value)


class ReadableJSONAdmin(admin.ModelAdmin):
    """Shows each read-only JSON field readably instead of as JSON text.

    Django's ``lookup_field`` prefers a model field over an admin attribute of the same name,
    so each read-only JSON field is swapped for a display callable named like it, and the
    field itself excluded from the form. Editable JSON fields that are lists of words
    (``line_fields``) are edited one item a line; the others stay JSON, where a curator's
    data has a shape of its own (rule parameters, pattern matchers, tags).
    """

    #: Editable JSON lists of words (instances, scopes, example messages): one a line.
    line_fields: ClassVar[tuple[str, ...]] = ()

    #: key -> URL name, for ids in the data that name objects (see :func:`render`).
    data_links: ClassVar[dict[str, str]] = {}
    #: field -> renderer, for a field whose shape is known and reads better in sentences
    #: (a diagnosis' evidence, a worker's last beat) than as the generic lists.
    data_renderers: ClassVar[dict[str, Renderer]] = {}

    def _json_fields(self, names: Any) -> dict[str, models.JSONField]:
        found = {}
        for name in names:
            if isinstance(name, str):
                try:
                    field = self.model._meta.get_field(name)
                except FieldDoesNotExist:
                    continue  # an admin method or a model property, not a field
                if isinstance(field, models.JSONField):
                    found[name] = field
        return found

    def _swap(self, names: Any) -> list[Any]:
        # One callable per field for the admin's life: the form's fieldsets and its
        # read-only list are built by separate calls and matched by identity.
        shown = self.__dict__.setdefault("_readable_fields", {})
        for name, field in self._json_fields(names).items():
            if name not in shown:
                shown[name] = readable_field(
                    name, str(field.verbose_name), self.data_links, self.data_renderers.get(name)
                )
        return [shown.get(n, n) if isinstance(n, str) else n for n in names]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        return self._swap(super().get_readonly_fields(request, obj))

    def formfield_for_dbfield(self, db_field: Any, request: Any, **kwargs: Any) -> Any:
        if db_field.name in self.line_fields:
            return LinesField(
                required=not db_field.blank, label=capfirst(db_field.verbose_name),
                help_text=f"One a line. {db_field.help_text}".strip(),
            )  # fmt: skip
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_exclude(self, request: HttpRequest, obj: Any = None) -> list[str]:
        raw = list(super().get_readonly_fields(request, obj))
        return [*(super().get_exclude(request, obj) or []), *self._json_fields(raw)]
