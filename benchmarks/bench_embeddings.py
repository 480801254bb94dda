"""Embedding throughput (sentences/s) of each provider available here (issue 4).

Texts look like real error messages: templates filled with varying values, so n-gram
counts and lengths are realistic. Hashing always runs; sentence-transformers runs when the
package and an offline model are installed; the OpenAI-compatible provider runs only when
``EMBEDDING_API_URL`` is set (a real server's latency says nothing about this code).
"""

from __future__ import annotations

import importlib.util
import os
import random
import time

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from knowledge.embeddings import (
    EMBEDDING_DIMENSIONS,
    HashingProvider,
    OpenAICompatibleProvider,
    SentenceTransformerProvider,
)

SENTENCES = int(os.environ.get("BENCH_EMBED_SENTENCES", "20000"))
MODEL_SENTENCES = int(os.environ.get("BENCH_EMBED_MODEL_SENTENCES", "1000"))
BATCH = 256
TEMPLATES = [
    "Import job {id} timed out after {n}s while processing {src} bookmarks",
    'duplicate key value violates unique constraint "bookmarks_user_url_key" (user_id={n})',
    "Failed to parse bookmarks HTML at line {n}: unexpected </DL> in {src} export",
    "UnicodeDecodeError: 'utf-8' codec can't decode byte 0x{hex} in position {n}",
    "OOM command not allowed when used memory > 'maxmemory' on redis-{n}",
    "connection pool exhausted: {n} of {n} connections in use for {host}",
    "Favicon fetch for https://{host}/favicon.ico rate-limited (429), retry in {n}s",
    "worker pid {n} RSS {n} MB exceeds limit, restarting",
    "No space left on device while writing /var/uploads/{id}/bookmarks.html",
    "TLS certificate for {host} expires in {n} days",
    "upstream {host} answered 503 Service Unavailable after {n} ms",
    "search query took {n} ms: sequential scan on bookmarks_bookmark (index missing?)",
]


def _texts(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    sources = ["chrome", "firefox", "pocket", "safari"]
    hosts = ["api.example.com", "db-primary", "cache-1.internal", "cdn.example.net"]
    return [
        rng.choice(TEMPLATES).format(
            id=f"{rng.getrandbits(32):08x}",
            n=rng.randint(1, 99999),
            src=rng.choice(sources),
            host=rng.choice(hosts),
            hex=f"{rng.getrandbits(8):02x}",
        )
        for _ in range(count)
    ]


def _rate(provider: object, texts: list[str]) -> float:
    embed = provider.embed  # type: ignore[attr-defined]
    embed(texts[:BATCH])  # warm-up (model load, caches)
    started = time.perf_counter()
    for offset in range(0, len(texts), BATCH):
        vectors = embed(texts[offset : offset + BATCH])
        assert len(vectors[0]) == EMBEDDING_DIMENSIONS
    return len(texts) / (time.perf_counter() - started)


def main() -> None:
    texts = _texts(SENTENCES)
    print(f"{len(texts)} error-like sentences, batches of {BATCH}, {EMBEDDING_DIMENSIONS} dims")
    hashing = HashingProvider()
    print(f"{'hashing':<24} {_rate(hashing, texts):>10,.0f} sentences/s (embed -> lists)")
    started = time.perf_counter()
    hashing.embed_array(texts)
    array_rate = len(texts) / (time.perf_counter() - started)
    print(f"{'hashing (numpy array)':<24} {array_rate:>10,.0f} sentences/s (one call, no lists)")

    if importlib.util.find_spec("sentence_transformers") is None:
        print(f"{'sentence-transformers':<24} not installed")
    else:
        try:
            model = SentenceTransformerProvider()
        except ImproperlyConfigured as exc:
            print(f"{'sentence-transformers':<24} unavailable: {exc}")
        else:
            rate = _rate(model, texts[:MODEL_SENTENCES])
            print(f"{'sentence-transformers':<24} {rate:>10,.0f} sentences/s (CPU)")

    if settings.EMBEDDING_API_URL:
        remote = OpenAICompatibleProvider(
            settings.EMBEDDING_API_URL,
            model=settings.EMBEDDING_MODEL or "text-embedding-3-small",
            api_key=settings.EMBEDDING_API_KEY,
        )
        rate = _rate(remote, texts[:MODEL_SENTENCES])
        print(f"{'openai-compatible':<24} {rate:>10,.0f} sentences/s")
    else:
        print(f"{'openai-compatible':<24} not configured (EMBEDDING_API_URL)")


if __name__ == "__main__":
    main()
