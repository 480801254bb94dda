"""Stored JSON of known shapes, said in sentences on the admin's change forms.

The generic renderer (``core.plain_data.render``) turns any JSON into lists and words, but it
cannot know that a similar problem's ``title`` is a log template (it showed "Import worker
<*> out of memory") or that a hypothesis reads best as one sentence. The shapes the agents
write are said here with the words the dashboard uses (``knowledge.incident_text``); what is
left over (a trigger's payload, keys newer agents write) is still shown, readably, behind a
"Technical details" disclosure, as on the dashboard's incident page.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from core.plain_data import EMPTY, Links, one_line, render
from knowledge.incident_text import evidence_sentences, hypothesis_sentence, percent, readable
from knowledge.models import PatternKind, Problem


def _sentences(sentences: list[str]) -> SafeString:
    items = format_html_join("", "<li>{}</li>", ((s,) for s in sentences))
    return format_html('<ul class="evidence">{}</ul>', items)


def _details(value: Any, links: Links, summary: str = "Technical details") -> SafeString:
    return format_html(
        '<details class="data-details"><summary>{}</summary>{}</details>',
        summary, render(value, links=links),
    )  # fmt: skip


def evidence(value: Any, links: Links) -> SafeString:
    """A diagnosis' (or a run's) evidence: sentences, then the rest behind a disclosure."""
    said, rest = evidence_sentences(value if isinstance(value, Mapping) else {})
    if not said and not rest:
        return format_html('<span class="data-empty">{}</span>', "No evidence recorded.")
    return format_html(
        "{}{}", _sentences(said) if said else "", _details(rest, links) if rest else ""
    )


def hypotheses(value: Any, links: Links) -> SafeString:
    """Ranked hypotheses, one sentence each (the cause readable, its grounds in words), the
    scores and ids they were built from one click away."""
    if not isinstance(value, list) or not value:
        return format_html('<span class="data-empty">{}</span>', EMPTY)
    said = [
        hypothesis_sentence(h) if isinstance(h, Mapping) else readable(str(h), 300) for h in value
    ]
    # The cause is said above, readably; the details would repeat it as its raw template.
    rest = [{k: v for k, v in h.items() if k != "cause"} for h in value if isinstance(h, Mapping)]
    return format_html("{}{}", _sentences(said), _details(rest, links, "Scores and evidence"))


def suggestions(value: Any, links: Links) -> SafeString:
    """Suggested solutions by their titles (what a curator knows them by), each linked."""
    if not isinstance(value, list) or not value:
        return format_html('<span class="data-empty">{}</span>', EMPTY)
    said = []
    for item in value:
        if not isinstance(item, Mapping):
            said.append(readable(str(item), 200))
            continue
        title = readable(str(item.get("title") or "a solution"), 200)
        params = item.get("parameters")
        said.append(f"{title}" + (f" (with {one_line(params, 160)})" if params else ""))
    return format_html("{}{}", _sentences(said), _details(value, links))


def event_ids(value: Any, links: Links | None = None) -> SafeString:
    """An occurrence's event ids: how many, then the first few as a short list."""
    ids = value if isinstance(value, list) else []
    if not ids:
        return format_html('<span class="data-empty">{}</span>', EMPTY)
    count = f"{len(ids)} event{'' if len(ids) == 1 else 's'}: "
    return format_html("{}{}", count, render(ids))


def pattern_snapshot(snapshot: Any, links: Links | None = None) -> SafeString:
    """A pattern version as a curator reads it: the kind's label, confidence as a percent,
    problems and solutions by title (the snapshot keeps fingerprints, which name no one)."""
    if not isinstance(snapshot, Mapping):
        return render(snapshot)
    shown = dict(snapshot)
    if shown.get("kind") in PatternKind.values:
        shown["kind"] = PatternKind(shown["kind"]).label
    if isinstance(shown.get("confidence"), int | float):
        shown["confidence"] = percent(float(shown["confidence"]))
    fingerprints = [str(f) for f in shown.get("problems") or []]
    titles = dict(Problem.objects.filter(fingerprint__in=fingerprints).values_list(
        "fingerprint", "title"
    ))  # fmt: skip
    shown["problems"] = [readable(titles.get(f, f), 120) for f in fingerprints]
    shown["solutions"] = [
        readable(str(pair[1]), 120) if isinstance(pair, list | tuple) and len(pair) == 2 else pair
        for pair in shown.get("solutions") or []
    ]
    return render(shown)
