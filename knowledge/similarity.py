"""Top-k similar problems by cosine distance over the HNSW index.

The HNSW index returns its ``ef_search`` nearest candidates and PostgreSQL filters them
afterwards (pgvector 0.6 has no iterative index scan), so a restrictive filter (a category,
a service) can leave fewer than ``k`` rows. Filtered searches therefore widen ``ef_search``,
and when the index still comes back short they repeat the search exactly (index scan off):
the filtered set is small precisely when that happens, so the exact scan is cheap.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connections, transaction
from pgvector.django import CosineDistance

from knowledge import embeddings
from knowledge.models import Problem

EF_SEARCH = 100
FILTERED_EF_SEARCH = 400
MAX_K = 100


def query_vector(text_or_vector: str | Sequence[float]) -> list[float]:
    if isinstance(text_or_vector, str):
        return embeddings.embed_text(text_or_vector)
    return list(text_or_vector)


def similar_problems(
    text_or_vector: str | Sequence[float],
    k: int = 5,
    *,
    category: str | None = None,
    service: str | None = None,
    exclude_id: int | None = None,
    ef_search: int | None = None,
    using: str = "default",
) -> list[tuple[Problem, float]]:
    """The ``k`` problems closest to a message (or a vector), best first, with a score of
    ``1 - cosine distance`` (1.0 = same direction). Merged duplicates are never returned."""
    k = max(1, min(k, MAX_K))
    vector = query_vector(text_or_vector)
    queryset = Problem.objects.using(using).filter(
        embedding__isnull=False, merged_into__isnull=True
    )
    filtered = bool(category or service or exclude_id)
    if category:
        queryset = queryset.filter(category=category)
    if service:
        queryset = queryset.filter(services__contains=[service])
    if exclude_id:
        queryset = queryset.exclude(pk=exclude_id)
    queryset = queryset.annotate(distance=CosineDistance("embedding", vector)).order_by(
        "distance"
    )[:k]
    ef = ef_search or (max(FILTERED_EF_SEARCH, k) if filtered else max(EF_SEARCH, k))
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        # SET LOCAL lasts until the end of this transaction only, whatever the pool does.
        cursor.execute(f"SET LOCAL hnsw.ef_search = {int(ef)}")
        found = list(queryset)
        if filtered and len(found) < k:
            cursor.execute("SET LOCAL enable_indexscan = off")
            found = list(queryset.all())
    return [(problem, 1.0 - float(problem.distance)) for problem in found]

