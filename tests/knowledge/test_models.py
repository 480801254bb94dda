"""Row behaviour: success statistics, pattern accuracy, the knowledge_nodes view."""

from __future__ import annotations

import math

import pytest
from django.db import connection

from knowledge.models import (
    KnowledgeNode,
    Pattern,
    PatternKind,
    Solution,
    beta_cdf,
    beta_quantile,
)

from .conftest import make_problem


def test_beta_quantile_matches_closed_forms():
    # Beta(2, 1) has cdf x^2; Beta(1, 1) is uniform; Beta(1, 3) has cdf 1 - (1 - x)^3.
    assert beta_quantile(0.05, 2, 1) == pytest.approx(math.sqrt(0.05), abs=1e-9)
    assert beta_quantile(0.3, 1, 1) == pytest.approx(0.3, abs=1e-9)
    assert beta_cdf(0.2, 1, 3) == pytest.approx(1 - 0.8**3, abs=1e-12)


def test_it_ranks_95_of_100_above_1_of_1():
    lucky = Solution(title="lucky", successes=1, failures=0)
    proven = Solution(title="proven", successes=95, failures=5)
    assert lucky.credible_interval[0] == pytest.approx(math.sqrt(0.05), abs=1e-6)
    assert lucky.credible_interval[0] < proven.credible_interval[0]
    assert proven.credible_interval[0] == pytest.approx(0.898, abs=0.01)


@pytest.mark.django_db
def test_it_orders_solutions_by_stored_lower_bound(import_problem):
    Solution.objects.create(problem=import_problem, title="lucky", successes=1)
    Solution.objects.create(problem=import_problem, title="proven", successes=95, failures=5)
    Solution.objects.create(problem=import_problem, title="untried")
    assert list(Solution.objects.values_list("title", flat=True)) == ["proven", "lucky", "untried"]


def test_success_label_is_readable():
    assert Solution(successes=95, failures=5).success_label == "94% (90–97%, 95/100)"
    assert Solution().success_label == "untried"


def test_pattern_accuracy():
    assert Pattern(matches_confirmed=0, matches_refuted=0).accuracy is None
    assert Pattern(matches_confirmed=3, matches_refuted=1).accuracy == 0.75


@pytest.mark.django_db
def test_knowledge_nodes_view_counts_every_kind(import_problem):
    other = make_problem("Redis out of memory")
    Solution.objects.create(problem=import_problem, title="Retry with smaller batch")
    Pattern.objects.create(name="large imports", kind=PatternKind.RECURRING)
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM knowledge_nodes")
        assert cursor.fetchone()[0] == 4
    kinds = sorted(KnowledgeNode.objects.values_list("kind", flat=True))
    assert kinds == ["pattern", "problem", "problem", "solution"]
    assert KnowledgeNode.objects.get(key=f"problem:{other.pk}").label == "Redis out of memory"
