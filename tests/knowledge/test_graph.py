"""Edges reinforce; neighbourhood and shortest path walk the graph without looping."""

from __future__ import annotations

import pytest

from knowledge import graph, services
from knowledge.models import Edge, Relation

from .conftest import make_problem

pytestmark = pytest.mark.django_db


def test_link_reinforces_an_existing_edge(import_problem, duplicate_problem):
    first = services.link(import_problem, Relation.CAUSES, duplicate_problem, weight=1.0)
    again = services.link(import_problem, Relation.CAUSES, duplicate_problem, weight=0.4)
    assert again.pk == first.pk
    assert again.evidence_count == 2
    assert again.weight == pytest.approx(0.7)
    assert Edge.objects.count() == 1


def test_link_refuses_unknown_relations_and_self_loops(import_problem):
    with pytest.raises(ValueError):
        services.link(import_problem, "likes", import_problem)
    with pytest.raises(ValueError):
        services.link(import_problem, Relation.CAUSES, import_problem)


@pytest.fixture
def chain():
    """a -causes-> b -causes-> c -similar_to-> a (a cycle), c -solved_by-> s, d alone."""
    a, b, c, d = (make_problem(name) for name in "abcd")
    s, _ = services.add_solution(c, "fix c")
    services.link(a, Relation.CAUSES, b)
    services.link(b, Relation.CAUSES, c)
    services.link(c, Relation.SIMILAR_TO, a)
    return a, b, c, d, s


def test_neighbourhood_by_depth(chain):
    a, b, c, d, s = chain
    one = graph.neighbourhood("problem", a.pk, depth=1)
    assert one.depths == {a.node: 0, b.node: 1, c.node: 1}
    assert {(e.source, e.target) for e in one.edges} == {
        (a.node, b.node),
        (b.node, c.node),
        (c.node, a.node),
    }
    two = graph.neighbourhood("problem", a.pk, depth=5)
    assert two.depths[s.node] == 2
    assert d.node not in two.depths


def test_shortest_path_takes_edges_either_way(chain):
    a, b, c, d, s = chain
    assert graph.shortest_path(a.node, s.node) == [a.node, c.node, s.node]
    assert graph.shortest_path(s.node, b.node) in ([s.node, c.node, b.node],)
    assert graph.shortest_path(a.node, d.node) is None
    assert graph.shortest_path(a.node, a.node) == [a.node]


def test_solutions_for_similar_rank_by_lower_bound(import_problem):
    near = make_problem("Chrome import timed out on large bookmarks file")
    lucky, _ = services.add_solution(import_problem, "Restart import workers")
    proven, _ = services.add_solution(near, "Retry with smaller batch")
    services.record_solution_outcome(lucky, True)
    for _ in range(20):
        services.record_solution_outcome(proven, True)
    services.record_solution_outcome(proven, False)
    found = graph.solutions_for_similar("Chrome import fails: bookmarks file too large", k=3)
    assert [f.solution.title for f in found] == [
        "Retry with smaller batch",
        "Restart import workers",
    ]
    assert found[0].problems[0][0] == near
