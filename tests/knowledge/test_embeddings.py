"""Embedding providers: shape, normalisation, determinism, similarity, the HTTP provider."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import numpy as np
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from knowledge import embeddings
from knowledge.embeddings import (
    EMBEDDING_DIMENSIONS,
    EmbeddingError,
    EmbeddingProvider,
    HashingProvider,
    OpenAICompatibleProvider,
    build_provider,
    embed_text,
    embed_texts,
    get_provider,
)
from tests.knowledge.openai_server import ServerState, openai_server

TEXTS = [
    "Import job 8f3a2c timed out after 300s while processing chrome bookmarks",
    "Import job 77d01e timed out after 120s while processing firefox bookmarks",
    "OOM command not allowed when used memory > 'maxmemory'",
    "",
    "Überlauf: Datei zu groß — 2 GB",
]


@pytest.fixture
def server() -> Iterator[ServerState]:
    with openai_server() as state:
        yield state


def cosine(a: list[float], b: list[float]) -> float:
    return float(np.dot(a, b))


def test_it_returns_unit_vectors_of_the_declared_dimension():
    provider = HashingProvider()
    vectors = provider.embed(TEXTS)
    assert isinstance(provider, EmbeddingProvider)
    assert provider.dimensions == EMBEDDING_DIMENSIONS == 384
    assert len(vectors) == len(TEXTS)
    for vector in vectors:
        assert len(vector) == 384
        assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)


def test_it_embeds_nothing_to_nothing():
    assert HashingProvider().embed([]) == []


def test_it_embeds_a_batch_as_it_embeds_each_text():
    provider = HashingProvider()
    batch = provider.embed_array(TEXTS * 300)  # crosses BLOCK_TEXTS
    single = np.array([provider.embed_array([text])[0] for text in TEXTS])
    assert np.array_equal(batch[: len(TEXTS)], single)
    assert np.array_equal(batch[-len(TEXTS) :], single)


def test_it_is_deterministic_across_processes():
    code = (
        "import json; from knowledge.embeddings import HashingProvider; "
        f"print(json.dumps(HashingProvider().embed({TEXTS!r})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    other = np.array(json.loads(out.stdout), dtype=np.float32)
    assert np.array_equal(other, HashingProvider().embed_array(TEXTS))


def test_similar_errors_are_closer_than_unrelated_ones():
    timeout_a, timeout_b, oom = HashingProvider().embed(TEXTS[:3])
    assert cosine(timeout_a, timeout_b) > 0.6
    assert cosine(timeout_a, timeout_b) > cosine(timeout_a, oom) + 0.4
    pool_a, pool_b, disk = HashingProvider().embed(
        [
            "connection pool exhausted: 20 connections in use",
            "Connection pool exhausted (max 50 connections)",
            "No space left on device while writing upload",
        ]
    )
    assert cosine(pool_a, pool_b) > cosine(pool_a, disk)


def test_embed_text_uses_the_configured_provider():
    assert get_provider().name == "hashing"
    assert embed_text(TEXTS[0]) == embed_texts([TEXTS[0]])[0]


def test_it_refuses_an_unknown_provider():
    with pytest.raises(ImproperlyConfigured):
        build_provider("word2vec")


def test_sentence_transformers_says_what_to_install_when_missing(monkeypatch):
    # None in sys.modules makes the import fail, whether or not the package is installed.
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)

    with pytest.raises(ImproperlyConfigured, match="sentence-transformers"):
        build_provider("sentence-transformers")


def test_openai_provider_needs_a_url():
    with pytest.raises(ImproperlyConfigured):
        OpenAICompatibleProvider("")


def test_openai_provider_posts_to_v1_embeddings(server: ServerState):
    provider = OpenAICompatibleProvider(server.url, model="emb-small", api_key="sk-test")
    vectors = provider.embed(TEXTS[:3])
    assert [len(v) for v in vectors] == [384, 384, 384]
    assert all(np.linalg.norm(v) == pytest.approx(1.0, abs=1e-6) for v in vectors)
    request = server.requests[0]
    assert request["path"] == "/v1/embeddings"
    assert request["auth"] == "Bearer sk-test"
    assert request["body"]["model"] == "emb-small"
    assert request["body"]["input"] == TEXTS[:3]
    assert request["body"]["dimensions"] == 384


def test_openai_provider_orders_vectors_by_index(server: ServerState):
    provider = OpenAICompatibleProvider(server.url)
    expected = provider.embed(TEXTS[:3])
    server.mode = "shuffled"
    assert provider.embed(TEXTS[:3]) == expected


def test_openai_provider_truncates_when_the_server_refuses_dimensions(server: ServerState):
    server.mode = "no-dimensions"
    provider = OpenAICompatibleProvider(server.url + "/v1/")  # base with /v1 works too
    vectors = provider.embed(TEXTS[:2])
    assert [len(v) for v in vectors] == [384, 384]
    assert np.linalg.norm(vectors[0]) == pytest.approx(1.0, abs=1e-6)
    assert "dimensions" not in server.requests[-1]["body"]


def test_openai_provider_batches_large_inputs(server: ServerState):
    provider = OpenAICompatibleProvider(server.url, batch_size=2)
    assert len(provider.embed(TEXTS)) == len(TEXTS)
    assert [len(r["body"]["input"]) for r in server.requests] == [2, 2, 1]


def test_openai_provider_retries_then_raises_on_server_errors(server: ServerState):
    server.mode = "error"
    provider = OpenAICompatibleProvider(server.url, retries=2, backoff=0.01)
    with pytest.raises(EmbeddingError, match="HTTP 500"):
        provider.embed(["x"])
    assert len(server.requests) == 3


def test_openai_provider_times_out(server: ServerState):
    server.mode = "slow"
    server.slow_seconds = 2.0
    provider = OpenAICompatibleProvider(server.url, timeout=0.2, retries=0)
    with pytest.raises(EmbeddingError, match="Timeout"):
        provider.embed(["x"])


def test_get_provider_follows_settings(server: ServerState):
    with override_settings(
        EMBEDDING_PROVIDER="openai", EMBEDDING_API_URL=server.url, EMBEDDING_MODEL="m1"
    ):
        provider = get_provider()
        assert isinstance(provider, OpenAICompatibleProvider)
        assert len(embed_text("hello")) == 384
    assert get_provider().name == "hashing"
    assert embeddings.get_provider() is get_provider()  # built once per configuration
