"""What every embedding provider shares: the interface, 384 unit-length dimensions."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

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
