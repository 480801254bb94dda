"""Times as an operator reads them at 3 a.m.: "3 minutes ago", with the exact time one hover
away. Admin changelists use it so date columns stay one short line instead of pushing the
table past the window (a full "Nov. 30, 2026, 5:41 p.m." in every row clipped "Last seen").

Clock times (a timeline's "22:37:30") always say their zone, on the page or on hover: an
on-call engineer in another zone must not guess whether 22:37 was an hour ago or ten."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.contrib import admin
from django.utils import timezone
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.timesince import timesince, timeuntil


def exact(moment: datetime) -> str:
    """The unambiguous form: ``2026-11-30 22:37:30 UTC`` (24-hour clock, zone named)."""
    local = timezone.localtime(moment)
    return f"{local:%Y-%m-%d %H:%M:%S} {local.tzname() or ''}".strip()


def zone_name() -> str:
    """The zone the pages' clock times are in (``UTC``), for a column heading."""
    return timezone.localtime(timezone.now()).tzname() or ""


def clock(moment: datetime | None, *, zone: bool = False, empty: str = "—") -> SafeString | str:
    """``<time title="2026-11-30 22:37:30 UTC">22:37:30</time>``: the time of day for today,
    the date too for an older moment (a "22:37" from yesterday reads as a minute ago).
    ``zone`` adds the zone on the page itself, where no heading names it."""
    if moment is None:
        return empty
    local = timezone.localtime(moment)
    today = timezone.localtime(timezone.now()).date()
    if local.date() == today:
        text = f"{local:%H:%M:%S}"
    else:
        text = f"{local:%b} {local.day}, {local:%H:%M}"
    if zone:
        text += f" {local.tzname()}"
    return format_html(
        '<time datetime="{}" title="{}">{}</time>', moment.isoformat(), exact(moment),
        text.replace(" ", "\N{NO-BREAK SPACE}"),
    )  # fmt: skip


def ago(moment: datetime | None, empty: str = "-") -> SafeString | str:
    """``<time title="exact">3 minutes ago</time>``; ``empty`` (the admin's dash) for None."""
    if moment is None:
        return empty
    seconds = (timezone.now() - moment).total_seconds()
    if abs(seconds) < 60:
        text = "just now"  # timesince says "0 minutes"
    elif seconds < 0:
        text = f"in {timeuntil(moment, depth=1)}"
    else:
        text = f"{timesince(moment, depth=1)} ago"
    # Non-breaking: "3 minutes ago" is one phrase and must not wrap into a taller row.
    return format_html(
        '<time datetime="{}" title="{}">{}</time>', moment.isoformat(), exact(moment),
        text.replace(" ", "\N{NO-BREAK SPACE}"),
    )  # fmt: skip


def ago_column(field: str, description: str | None = None) -> Callable[[Any], SafeString | str]:
    """A changelist column showing ``field`` with :func:`ago`, still sortable by the field."""

    def column(obj: Any) -> SafeString | str:
        return ago(getattr(obj, field))

    column.__name__ = field  # the cell's class stays "field-<name>" like a plain field's
    return admin.display(description=description or field.replace("_", " "), ordering=field)(column)


def breakable(text: object) -> SafeString:
    """An identifier (``search_latency_high``, ``api.error_rate``) that may wrap after its
    ``_`` and ``.`` rather than mid-word: a narrow column showed "search_latency_hig / h"."""
    safe = escape(str(text or ""))
    return mark_safe(safe.replace("_", "_<wbr>").replace(".", ".<wbr>"))  # noqa: S308 (escaped)


def words_column(field: str, description: str | None = None) -> Callable[[Any], SafeString]:
    """A changelist column showing an identifier ``field`` with :func:`breakable`."""

    def column(obj: Any) -> SafeString:
        return breakable(getattr(obj, field))

    column.__name__ = field  # keeps the cell's "field-<name>" class for admin.css
    return admin.display(description=description or field.replace("_", " "), ordering=field)(column)


def percent_column(field: str, description: str | None = None) -> Callable[[Any], str]:
    """A 0-1 ``field`` as "92%": "0.916" beside "92% confident" on the dashboard read as two
    different numbers."""

    def column(obj: Any) -> str:
        value = getattr(obj, field)
        return "-" if value is None else f"{round(value * 100)}%"

    column.__name__ = field
    return admin.display(description=description or field.replace("_", " "), ordering=field)(column)
