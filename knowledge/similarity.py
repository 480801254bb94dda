"""The one home of similar-problem search: whole problems over the HNSW index, and curated
problems' example messages.

**Whole problems** (:func:`similar_problems`): top-k by cosine distance over the HNSW index.

The HNSW index returns its ``ef_search`` nearest candidates and PostgreSQL filters them
afterwards (pgvector 0.6 has no iterative index scan), so a restrictive filter (a category,
a service) can leave fewer than ``k`` rows. Filtered searches therefore widen ``ef_search``,
and when the index still comes back short they repeat the search exactly (index scan off):
the filtered set is small precisely when that happens, so the exact scan is cheap.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from django.db import connections, transaction
from django.db.models import Max

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


# --- Example messages ------------------------------------------------------------------------


class ExemplarIndex:
    """Curated problems' example messages, embedded once per process (refreshed on edits).

    A new error is compared with every example message of every problem that carries a
    signal and scored by the best one: a short log line matches a short example far better
    than a problem's whole description does.
    """

    REFRESH_SECONDS = 60.0

    def __init__(self) -> None:
        self._built_at = 0.0
        self._stamp: tuple[int, Any] | None = None
        self._owners: list[int] = []
        self._matrix: np.ndarray | None = None
        self._problems: dict[int, Any] = {}

    def _refresh(self) -> None:
        curated = Problem.objects.canonical().exclude(signal="")
        stamp = (curated.count(), curated.aggregate(Max("updated_at"))["updated_at__max"])
        if stamp == self._stamp and self._matrix is not None:
            return
        texts, owners = [], []
        self._problems = {}
        for problem in curated:
            self._problems[problem.pk] = problem
            for text in [problem.title, *map(str, problem.error_patterns)]:
                texts.append(text)
                owners.append(problem.pk)
        self._matrix = np.asarray(embeddings.embed_texts(texts)) if texts else None
        self._owners, self._stamp = owners, stamp

    def forget(self) -> None:
        """Rebuild on next use (the curated problems were replaced, e.g. a fresh database)."""
        self._built_at, self._stamp, self._matrix = 0.0, None, None

    def matches(self, text: str, k: int = 5) -> list[tuple[Any, float]]:
        now = time.monotonic()
        if now - self._built_at > self.REFRESH_SECONDS or self._matrix is None:
            self._refresh()
            self._built_at = now
        if self._matrix is None:
            return []
        scores = self._matrix @ np.asarray(embeddings.embed_texts([text])[0])
        best: dict[int, float] = {}
        for owner, score in zip(self._owners, scores.tolist(), strict=True):
            best[owner] = max(best.get(owner, -1.0), score)
        ranked = sorted(best.items(), key=lambda item: -item[1])[:k]
        return [(self._problems[pk], score) for pk, score in ranked]


EXEMPLARS = ExemplarIndex()


def known_problems_like(
    text: str, k: int = 5, *, problem: Problem | None = None
) -> list[tuple[Problem, float]]:
    """Known problems like an error text: the best of example-message and whole-problem
    similarity, best first. ``problem`` is the text's own (fingerprinted) problem: a curated
    one explains itself best (score 1.0); an uncurated one is left out of its own matches."""
    best: dict[int, tuple[Problem, float]] = {}
    if problem is not None and problem.signal:
        best[problem.pk] = (problem, 1.0)
    candidates = EXEMPLARS.matches(text, k=k) + similar_problems(text, k=k + 1)
    for candidate, score in candidates:
        if problem is not None and candidate.pk == problem.pk and not problem.signal:
            continue
        if candidate.pk not in best or best[candidate.pk][1] < score:
            best[candidate.pk] = (candidate, score)
    return sorted(best.values(), key=lambda item: -item[1])[:k]
