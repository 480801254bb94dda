"""pgvector is really there: a vector column, an HNSW index, a nearest-neighbour query."""

from __future__ import annotations

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


def test_hnsw_index_answers_nearest_neighbour_queries():
    with connection.cursor() as cursor:
        # TEMP: the app's runtime role creates no tables, but may use pgvector's types.
        cursor.execute("CREATE TEMP TABLE vec_probe (id int PRIMARY KEY, embedding vector(3))")
        cursor.execute(
            "INSERT INTO vec_probe VALUES (1, '[1,0,0]'), (2, '[0,1,0]'), (3, '[0.9,0.1,0]'),"
            " (4, '[0,0,1]')"
        )
        cursor.execute(
            "CREATE INDEX vec_probe_hnsw ON vec_probe USING hnsw (embedding vector_cosine_ops)"
        )
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(
            "EXPLAIN SELECT id FROM vec_probe ORDER BY embedding <=> '[1,0.05,0]' LIMIT 2"
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("SELECT id FROM vec_probe ORDER BY embedding <=> '[1,0.05,0]' LIMIT 2")
        nearest = [row[0] for row in cursor.fetchall()]

    assert "vec_probe_hnsw" in plan
    assert nearest == [1, 3]


def test_pgvector_version_supports_hnsw():
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        (version,) = cursor.fetchone()
    major, minor = (int(part) for part in version.split(".")[:2])
    assert (major, minor) >= (0, 5)
