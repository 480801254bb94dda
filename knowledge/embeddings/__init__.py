"""Text embeddings behind one small provider interface, 384 dimensions everywhere.

Problems, solutions and patterns are stored with a ``vector(384)`` column, so every provider
returns vectors of exactly ``EMBEDDING_DIMENSIONS`` floats, L2-normalised (cosine distance
and inner product then agree). Three providers:

- ``HashingProvider`` (default): feature hashing of word tokens and character 3-5-grams.
  Works offline with nothing to download, is deterministic across processes and machines
  (stable hashes, never Python's salted ``hash``) and is fast enough to re-embed a whole
  knowledge graph in seconds. Error messages that share words and word pieces land close.
- ``SentenceTransformerProvider``: all-MiniLM-L6-v2 when ``sentence_transformers`` is
  installed and the model is available offline (never downloaded at run time).
- ``OpenAICompatibleProvider``: ``POST {base}/v1/embeddings`` of any OpenAI-compatible server.

``get_provider()`` picks one from the ``EMBEDDING_*`` settings; ``embed_texts`` /
``embed_text`` are what the rest of the code calls. Vectors from different providers are not
comparable: after changing ``EMBEDDING_PROVIDER`` the stored vectors must be rebuilt.
"""

from __future__ import annotations

import threading

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from knowledge.embeddings.base import (
    DEFAULT_OPENAI_MODEL,
    EMBEDDING_DIMENSIONS,
    PROVIDER_NAMES,
    SENTENCE_TRANSFORMER_MODEL,
    EmbeddingError,
    EmbeddingProvider,
)
from knowledge.embeddings.hashing import HashingProvider
from knowledge.embeddings.local import SentenceTransformerProvider
from knowledge.embeddings.remote import (
    OpenAICompatibleProvider,
    api_endpoint,
    post_json_with_retries,
)

__all__ = [
    "EMBEDDING_DIMENSIONS",
    "PROVIDER_NAMES",
    "EmbeddingError",
    "EmbeddingProvider",
    "HashingProvider",
    "OpenAICompatibleProvider",
    "SentenceTransformerProvider",
    "api_endpoint",
    "build_provider",
    "embed_text",
    "embed_texts",
    "get_provider",
    "post_json_with_retries",
]

_provider: EmbeddingProvider | None = None
_provider_key: tuple[str, ...] | None = None
_provider_lock = threading.Lock()


def build_provider(name: str | None = None) -> EmbeddingProvider:
    """Construct the provider named ``name`` (default: ``settings.EMBEDDING_PROVIDER``)."""
    name = (name or getattr(settings, "EMBEDDING_PROVIDER", "hashing")).strip().lower()
    if name == "hashing":
        return HashingProvider()
    if name == "sentence-transformers":
        model = getattr(settings, "EMBEDDING_MODEL", "") or SENTENCE_TRANSFORMER_MODEL
        return SentenceTransformerProvider(model)
    if name == "openai":
        return OpenAICompatibleProvider(
            getattr(settings, "EMBEDDING_API_URL", ""),
            model=getattr(settings, "EMBEDDING_MODEL", "") or DEFAULT_OPENAI_MODEL,
            api_key=getattr(settings, "EMBEDDING_API_KEY", ""),
            timeout=float(getattr(settings, "EMBEDDING_TIMEOUT_SECONDS", 30)),
        )
    raise ImproperlyConfigured(f"EMBEDDING_PROVIDER={name!r} is not one of {list(PROVIDER_NAMES)}")


def get_provider() -> EmbeddingProvider:
    """This process's provider, built once per configuration (settings may be overridden)."""
    global _provider, _provider_key
    key = tuple(
        str(getattr(settings, name, ""))
        for name in ("EMBEDDING_PROVIDER", "EMBEDDING_API_URL", "EMBEDDING_MODEL")
    )
    with _provider_lock:
        if _provider is None or _provider_key != key:
            _provider = build_provider()
            _provider_key = key
        return _provider


def embed_texts(texts: list[str]) -> list[list[float]]:
    """Embed a batch with the configured provider: unit vectors of 384 floats."""
    return get_provider().embed(list(texts))


def embed_text(text: str) -> list[float]:
    """Embed one text with the configured provider."""
    return embed_texts([text])[0]
