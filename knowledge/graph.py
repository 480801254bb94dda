"""Graph queries over the edge table: neighbourhoods, shortest paths, and "what solved
problems like this one".

Both walks are one recursive CTE that follows edges in either direction and carries the
path it took, refusing to revisit a node on that path: cycles (``a similar_to b similar_to
a``) cannot loop, and the depth bound keeps the frontier finite on dense graphs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db import connection

from knowledge.models import Edge, Node, Problem, Relation, Solution
from knowledge.similarity import similar_problems

MAX_DEPTH = 6

_WALK = """
WITH RECURSIVE walk(kind, id, depth, path) AS (
    SELECT %(kind)s::text, %(id)s::bigint, 0, ARRAY[%(kind)s || ':' || %(id)s]
  UNION ALL
    SELECT step.kind, step.id, walk.depth + 1, walk.path || (step.kind || ':' || step.id)
      FROM walk
      CROSS JOIN LATERAL (
            SELECT e.target_kind::text AS kind, e.target_id AS id
              FROM knowledge_edge e
             WHERE e.source_kind = walk.kind AND e.source_id = walk.id
        UNION
            SELECT e.source_kind::text, e.source_id
              FROM knowledge_edge e
             WHERE e.target_kind = walk.kind AND e.target_id = walk.id
      ) AS step
     WHERE walk.depth < %(depth)s
       AND NOT (step.kind || ':' || step.id) = ANY(walk.path)
       {stop}
)
"""

_NEIGHBOURHOOD = (
    _WALK.format(stop="")
    + """
SELECT kind, id, MIN(depth) AS depth FROM walk GROUP BY kind, id ORDER BY depth, kind, id
"""
)

# The walk stops expanding a branch once it reached the target; the first row is a
# shortest path because rows are ordered by depth.
_PATH = (
    _WALK.format(stop="AND NOT (walk.kind = %(to_kind)s AND walk.id = %(to_id)s)")
    + """
SELECT path FROM walk WHERE kind = %(to_kind)s AND id = %(to_id)s ORDER BY depth LIMIT 1
"""
)


@dataclass
class Neighbourhood:
    """Nodes within ``depth`` hops of a centre (with their distance) and the edges among them."""

    centre: Node
    depths: dict[Node, int] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)

    @property
    def nodes(self) -> list[Node]:
        return list(self.depths)


def neighbourhood(kind: str, node_id: int, depth: int = 2) -> Neighbourhood:
    """Every node reachable from ``(kind, node_id)`` in at most ``depth`` hops, edges taken in
    either direction, with the edges that connect them."""
    depth = max(0, min(depth, MAX_DEPTH))
    with connection.cursor() as cursor:
        cursor.execute(_NEIGHBOURHOOD, {"kind": kind, "id": node_id, "depth": depth})
        depths = {(k, i): d for k, i, d in cursor.fetchall()}
    result = Neighbourhood(centre=(kind, node_id), depths=depths)
    by_kind: dict[str, list[int]] = {}
    for k, i in depths:
        by_kind.setdefault(k, []).append(i)
    if len(depths) > 1:
        candidates = Edge.objects.none()
        for k, ids in by_kind.items():
            candidates = candidates | Edge.objects.filter(source_kind=k, source_id__in=ids)
        result.edges = [e for e in candidates if e.target in depths]
    return result


def shortest_path(source: Node, target: Node, *, max_depth: int = MAX_DEPTH) -> list[Node] | None:
    """The nodes of a shortest path from ``source`` to ``target`` (both included), edges
    taken in either direction; None when none exists within ``max_depth`` hops."""
    if source == target:
        return [source]
    with connection.cursor() as cursor:
        cursor.execute(
            _PATH,
            {
                "kind": source[0],
                "id": source[1],
                "depth": max(1, min(max_depth, MAX_DEPTH)),
                "to_kind": target[0],
                "to_id": target[1],
            },
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return [(kind, int(pk)) for kind, pk in (step.split(":") for step in row[0])]


@dataclass
class SuggestedSolution:
    solution: Solution
    problems: list[tuple[Problem, float]]

    @property
    def best_similarity(self) -> float:
        return max(score for _, score in self.problems)


def solutions_for_similar(
    text_or_vector: str | Sequence[float],
    *,
    k: int = 5,
    category: str | None = None,
    limit: int = 10,
) -> list[SuggestedSolution]:
    """What solved problems similar to this one: the ``k`` nearest problems, then the
    solutions their ``solved_by`` edges point at, best proven first (lower bound of the
    success interval, so a fix that worked 95 times in 100 outranks one lucky run), ties
    broken by how close the problem is."""
    similar = similar_problems(text_or_vector, k=k, category=category)
    if not similar:
        return []
    scores = {problem.pk: (problem, score) for problem, score in similar}
    edges = Edge.objects.filter(
        source_kind="problem",
        source_id__in=list(scores),
        relation=Relation.SOLVED_BY,
        target_kind="solution",
    )
    via: dict[int, list[tuple[Problem, float]]] = {}
    for edge in edges:
        via.setdefault(edge.target_id, []).append(scores[edge.source_id])
    solutions = Solution.objects.filter(pk__in=list(via))
    found = [SuggestedSolution(s, sorted(via[s.pk], key=lambda p: -p[1])) for s in solutions]
    found.sort(key=lambda s: (-s.solution.success_lower_bound, -s.best_similarity, s.solution.pk))
    return found[:limit]
