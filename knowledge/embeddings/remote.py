"""Any OpenAI-compatible ``POST {base}/v1/embeddings`` server, with retries."""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx
import numpy as np
from django.core.exceptions import ImproperlyConfigured

from knowledge.embeddings.base import (
    DEFAULT_OPENAI_MODEL,
    EMBEDDING_DIMENSIONS,
    EmbeddingError,
    _fit_dimensions,
)

logger = logging.getLogger(__name__)


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
