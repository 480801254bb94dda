"""manage.py reembed: recompute vectors made by another provider (or all of them)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from knowledge import embeddings
from knowledge.models import Problem
from knowledge.seed import seed_knowledge

pytestmark = pytest.mark.django_db


def test_reembed_rebuilds_vectors_of_another_provider_and_only_those():
    seed_knowledge()
    stale = Problem.objects.order_by("pk").first()
    Problem.objects.filter(pk=stale.pk).update(
        embedding_provider="old-model", embedding=[0.0] * 384
    )
    out = StringIO()

    call_command("reembed", no_progress=True, stdout=out)

    assert "Re-embedded 1 problems" in out.getvalue()
    stale.refresh_from_db()
    assert stale.embedding_provider == embeddings.get_provider().name
    assert list(stale.embedding) == pytest.approx(embeddings.embed_text(stale.embedding_text()))


def test_reembed_all_touches_every_problem():
    seed_knowledge()
    out = StringIO()

    call_command("reembed", all=True, no_progress=True, stdout=out)

    assert f"Re-embedded {Problem.objects.count()} problems" in out.getvalue()
