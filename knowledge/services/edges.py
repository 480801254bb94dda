"""Edges of the graph: typed, weighted links between problems, solutions and patterns."""

from __future__ import annotations

from django.db import connection

from knowledge.models import (
    NODE_MODELS,
    Edge,
    Node,
    NodeMixin,
    Relation,
)

# --- Edges --------------------------------------------------------------------------------------

_UPSERT_EDGE = """
INSERT INTO knowledge_edge (source_kind, source_id, relation, target_kind, target_id, weight,
                            evidence_count, created_at, updated_at)
VALUES (%(sk)s, %(si)s, %(rel)s, %(tk)s, %(ti)s, %(weight)s, %(evidence)s,
        clock_timestamp(), clock_timestamp())
ON CONFLICT (source_kind, source_id, target_kind, target_id, relation) DO UPDATE SET
    weight = (knowledge_edge.weight * knowledge_edge.evidence_count
              + EXCLUDED.weight * EXCLUDED.evidence_count)
             / (knowledge_edge.evidence_count + EXCLUDED.evidence_count),
    evidence_count = knowledge_edge.evidence_count + EXCLUDED.evidence_count,
    updated_at = now()
RETURNING id
"""


def as_node(node: NodeMixin | Node) -> Node:
    if isinstance(node, tuple):
        kind, pk = node
        if kind not in NODE_MODELS:
            raise ValueError(f"unknown node kind {kind!r}")
        return (str(kind), int(pk))
    return node.node


def link(
    source: NodeMixin | Node,
    relation: str,
    target: NodeMixin | Node,
    *,
    weight: float = 1.0,
    evidence: int = 1,
) -> Edge:
    """Create the edge, or reinforce it: evidence added, weight averaged (one upsert, so
    concurrent reinforcements all count)."""
    if relation not in Relation.values:
        raise ValueError(f"unknown relation {relation!r}")
    (sk, si), (tk, ti) = as_node(source), as_node(target)
    if (sk, si) == (tk, ti):
        raise ValueError("an edge needs two different nodes")
    with connection.cursor() as cursor:
        cursor.execute(
            _UPSERT_EDGE,
            {
                "sk": sk,
                "si": si,
                "rel": relation,
                "tk": tk,
                "ti": ti,
                "weight": weight,
                "evidence": evidence,
            },
        )
        edge_id = cursor.fetchone()[0]
    return Edge.objects.get(pk=edge_id)


def ensure_edge(
    source: NodeMixin | Node, relation: str, target: NodeMixin | Node, *, weight: float = 1.0
) -> tuple[Edge, bool]:
    """The edge, created when missing but never reinforced: for curated and seeded
    knowledge, where running the same load twice is not new evidence."""
    if relation not in Relation.values:
        raise ValueError(f"unknown relation {relation!r}")
    (sk, si), (tk, ti) = as_node(source), as_node(target)
    return Edge.objects.get_or_create(
        source_kind=sk,
        source_id=si,
        target_kind=tk,
        target_id=ti,
        relation=relation,
        defaults={"weight": weight, "evidence_count": 1},
    )
