"""Read-only HTML fragments the admin pages share: node links, tables, a node's edges."""

from __future__ import annotations

from typing import Any

from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from knowledge.models import (
    NODE_MODELS,
    Edge,
    Node,
)

OCCURRENCES_SHOWN = 30
SIMILAR_SHOWN = 5


def node_link(node: Node, label: str | None = None) -> SafeString:
    """A link to a node's change page, labelled with its title or name."""
    kind, pk = node
    model = NODE_MODELS.get(kind)
    obj = model.objects.filter(pk=pk).first() if model else None
    text = label or (str(obj) if obj else f"{kind}:{pk} (deleted)")
    try:
        url = reverse(f"admin:knowledge_{kind}_change", args=[pk])
    except NoReverseMatch:
        return format_html("{}", text)
    return format_html('<a href="{}">{}</a> <small>({})</small>', url, text, kind)


def html_table(headers: list[str], rows: list[tuple[Any, ...]]) -> SafeString:
    if not rows:
        return format_html("<em>{}</em>", "none")
    head = format_html_join("", "<th>{}</th>", ((h,) for h in headers))
    body = format_html_join(
        "", "<tr>{}</tr>", ((format_html_join("", "<td>{}</td>", ((c,) for c in r)),) for r in rows)
    )
    return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, body)


def edges_panel(node: Node) -> SafeString:
    """Every edge of a node, outgoing and incoming, with links to the other end."""
    kind, pk = node
    outgoing = Edge.objects.filter(source_kind=kind, source_id=pk)
    incoming = Edge.objects.filter(target_kind=kind, target_id=pk)
    rows = [
        ("→", e.get_relation_display(), node_link(e.target), f"{e.weight:.2f}", e.evidence_count)
        for e in outgoing
    ]
    rows += [
        ("←", e.get_relation_display(), node_link(e.source), f"{e.weight:.2f}", e.evidence_count)
        for e in incoming
    ]
    return html_table(["", "relation", "node", "weight", "evidence"], rows)
