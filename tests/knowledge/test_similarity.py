"""Similar problems over the HNSW index, and GET /api/v1/knowledge/similar."""

from __future__ import annotations

import pytest
from django.db import connection

from agents.ingest import tokens
from agents.models import ApiToken
from knowledge.models import Category
from knowledge.similarity import similar_problems

from .conftest import make_problem

pytestmark = pytest.mark.django_db

URL = "/api/v1/knowledge/similar"


@pytest.fixture
def catalogue():
    return {
        "timeout": make_problem(
            "Import job timed out after 300s while processing chrome bookmarks",
            category=Category.IMPORT,
            services=["import-worker"],
        ),
        "encoding": make_problem(
            "UnicodeDecodeError: 'utf-8' codec can't decode byte in Pocket export",
            category=Category.IMPORT,
            services=["import-worker"],
        ),
        "pool": make_problem(
            "psycopg_pool.PoolTimeout: couldn't get a connection after 30 sec",
            category=Category.CAPACITY,
            services=["web"],
        ),
        "redis": make_problem(
            "OOM command not allowed when used memory > 'maxmemory'",
            category=Category.CAPACITY,
            services=["redis"],
        ),
    }


def test_closer_wording_ranks_first(catalogue):
    found = similar_problems("Import job 77ab timed out after 120s processing chrome bookmarks")
    assert found[0][0] == catalogue["timeout"]
    scores = [score for _, score in found]
    assert scores == sorted(scores, reverse=True)
    assert 0.5 < scores[0] <= 1.0


def test_filters_and_exclusion(catalogue):
    text = "couldn't get a connection from the pool after 30 sec"
    assert similar_problems(text, k=1)[0][0] == catalogue["pool"]
    in_import = similar_problems(text, k=5, category=Category.IMPORT)
    assert {p for p, _ in in_import} == {catalogue["timeout"], catalogue["encoding"]}
    by_service = similar_problems(text, k=5, service="redis")
    assert [p for p, _ in by_service] == [catalogue["redis"]]
    without = similar_problems(text, k=5, exclude_id=catalogue["pool"].pk)
    assert catalogue["pool"] not in {p for p, _ in without}


def test_a_vector_works_as_the_query(catalogue):
    problem = catalogue["redis"]
    best, score = similar_problems(problem.embedding, k=1)[0]
    assert best == problem and score == pytest.approx(1.0, abs=1e-5)


def test_the_query_uses_the_hnsw_index(catalogue):
    vector = "[" + ",".join(["0.05"] * 384) + "]"
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        cursor.execute(
            "EXPLAIN SELECT id FROM knowledge_problem ORDER BY embedding <=> %s LIMIT 5", [vector]
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("RESET enable_seqscan")
    assert "knowledge_problem_embed_hnsw" in plan


@pytest.fixture
def token() -> str:
    tokens.clear_token_cache()
    _, plaintext = ApiToken.issue("diagnostic agent", "aiops", scopes=["knowledge"])
    return plaintext


def test_api_with_a_token(client, catalogue, token):
    response = client.get(
        URL,
        {
            "text": "Pocket export: utf-8 codec can't decode byte",
            "k": 2,
            "category": "",
            "service": "",
        },
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert len(body["results"]) == 2
    first = body["results"][0]
    assert first["id"] == catalogue["encoding"].pk
    assert first["admin_url"].endswith(f"/knowledge/problem/{catalogue['encoding'].pk}/change/")
    assert first["score"] >= body["results"][1]["score"]


def test_api_category_filter_and_validation(client, catalogue, token):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    response = client.get(URL, {"text": "connection pool", "category": "capacity"}, **auth)
    assert {r["category"] for r in response.json()["results"]} == {"capacity"}
    assert client.get(URL, {"text": "x", "category": "nope"}, **auth).status_code == 400
    assert client.get(URL, {"text": "x", "k": 0}, **auth).status_code == 400


def test_api_with_a_staff_session_and_refusals(client, catalogue, admin_user, viewer):
    assert client.get(URL, {"text": "timeout"}).status_code == 401
    _, other = ApiToken.issue("ingest only", "bookmarks", scopes=["events"])
    assert client.get(URL, {"text": "t"}, HTTP_AUTHORIZATION=f"Bearer {other}").status_code == 403
    client.force_login(viewer)
    assert client.get(URL, {"text": "timeout"}).status_code == 401
    client.force_login(admin_user)
    assert client.get(URL, {"text": "timeout"}).status_code == 200
