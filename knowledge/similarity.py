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

from knowledge import embeddings
from knowledge.models import Problem

EF_SEARCH = 200  # recall@5 >= 0.95 at 100k error texts (bench_similarity); p99 ~8 ms
FILTERED_EF_SEARCH = 400
MAX_K = 100

# Every column but the vector: callers want the problems, and parsing five 384-float vectors
# they never read would cost more than the index search itself.
_COLUMNS = ", ".join(
    f'"{field.column}"' for field in Problem._meta.concrete_fields if field.name != "embedding"
)
_QUERY = f"""
SELECT {_COLUMNS}, embedding <=> %(vector)s::vector AS distance
  FROM knowledge_problem
 WHERE embedding IS NOT NULL AND merged_into_id IS NULL {{filters}}
 ORDER BY distance
 LIMIT %(k)s
"""  # noqa: S608 (column names come from the model; every value is a parameter)


def query_vector(text_or_vector: str | Sequence[float]) -> str:
    """The query as a pgvector literal (a message is embedded with the default provider)."""
    if isinstance(text_or_vector, str):
        vector: Sequence[float] = embeddings.embed_text(text_or_vector)
    elif hasattr(text_or_vector, "tolist"):  # a numpy array, e.g. a stored Problem.embedding
        vector = text_or_vector.tolist()
    else:
        vector = text_or_vector
    return "[" + ",".join(map(repr, map(float, vector))) + "]"


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
    ``1 - cosine distance`` (1.0 = same direction). Merged duplicates are never returned.

    Raw SQL rather than the ORM: this is the diagnostic agent's hot path, and compiling the
    queryset cost several times the index search (see ``benchmarks/bench_similarity.py``).
    """
    k = max(1, min(k, MAX_K))
    params: dict[str, object] = {"vector": query_vector(text_or_vector), "k": k}
    filters = []
    if category:
        filters.append("AND category = %(category)s")
        params["category"] = category
    if service:
        filters.append("AND services @> ARRAY[%(service)s]::varchar[]")
        params["service"] = service
    if exclude_id:
        filters.append("AND id <> %(exclude)s")
        params["exclude"] = exclude_id
    sql = _QUERY.format(filters=" ".join(filters))
    ef = ef_search or (max(FILTERED_EF_SEARCH, k) if filters else max(EF_SEARCH, k))
    # savepoint=False: inside a caller's transaction, SET LOCAL simply lasts until its end.
    with transaction.atomic(using=using, savepoint=False), connections[using].cursor() as cursor:
        # SET LOCAL lasts until the end of this transaction only, whatever the pool does.
        cursor.execute(f"SET LOCAL hnsw.ef_search = {int(ef)}")
        found = list(Problem.objects.raw(sql, params, using=using))
        if filters and len(found) < k:
            cursor.execute("SET LOCAL enable_indexscan = off")
            found = list(Problem.objects.raw(sql, params, using=using))
    return [(problem, 1.0 - float(problem.distance)) for problem in found]
