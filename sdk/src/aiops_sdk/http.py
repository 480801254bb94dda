"""The HTTP transports: ``POST /api/v1/events`` with a bearer token, sync and asyncio.

Events are encoded to JSON once, when emitted (so a payload that cannot be encoded fails in
the caller's hands, and the flusher only joins bytes). Requests stay under the ingest
limits (1000 events, 1 MiB) by construction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import httpx

from aiops_sdk.core import RejectedError, RetryableError, bad_indexes_from, parse_retry_after

EVENTS_PATH = "/api/v1/events"
REGISTER_PATH = "/api/v1/services/register"
HEARTBEAT_PATH = "/api/v1/services/{service}/instances/{instance}/heartbeat"
MAX_BATCH_EVENTS = 1000
# The server takes 1 MiB; leave room for the envelope and the separators.
MAX_BATCH_BYTES = 1024 * 1024 - 1024


def encode_event(event: dict[str, Any]) -> bytes:
    # default=str: UUIDs, Decimals and datetimes in payloads travel as their usual strings.
    return json.dumps(event, separators=(",", ":"), default=str).encode()


def batch_body(items: Sequence[bytes]) -> bytes:
    return b'{"events":[' + b",".join(items) + b"]}"


def raise_for_ingest(response: httpx.Response) -> None:
    """Map an ingest response onto the retry vocabulary (see :mod:`aiops_sdk.core`)."""
    status = response.status_code
    if status < 300:
        return
    if status == 429 or status >= 500 or status == 408:
        raise RetryableError(
            f"HTTP {status}", retry_after=parse_retry_after(response.headers.get("Retry-After"))
        )
    detail, errors = _detail(response)
    raise RejectedError(
        f"HTTP {status}: {detail}",
        status=status,
        bad_indexes=bad_indexes_from(errors) if status in (400, 422) else None,
        too_large=status == 413,
    )


def _detail(response: httpx.Response) -> tuple[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200], None
    if not isinstance(body, dict):
        return str(body)[:200], None
    errors = body.get("errors")
    detail = str(body.get("detail", ""))
    if isinstance(errors, list) and errors:
        detail = f"{detail} {errors[:5]}".strip()
    return detail[:500], errors


def _headers(token: str | None) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "User-Agent": "aiops-sdk/1"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


class _HttpBase:
    max_batch_events: int | None = MAX_BATCH_EVENTS
    max_batch_bytes: int | None = MAX_BATCH_BYTES

    def __init__(self, url: str, token: str | None, timeout: float) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"url {url!r} must start with http:// or https://")
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def prepare(self, event: dict[str, Any]) -> bytes:
        raw = encode_event(event)
        if len(raw) > self.max_batch_bytes:
            raise ValueError(
                f"event {event['type']!r} is {len(raw)} bytes encoded; "
                f"the ingest API takes at most {self.max_batch_bytes}"
            )
        return raw

    def size_of(self, item: bytes) -> int:
        return len(item) + 1  # the comma


class HttpTransport(_HttpBase):
    """Blocking transport for :class:`aiops_sdk.AIOpsClient` (used by its flusher thread)."""

    def __init__(self, url: str, token: str | None = None, *, timeout: float = 10.0) -> None:
        super().__init__(url, token, timeout)
        self._http = httpx.Client(base_url=self.url, headers=_headers(token), timeout=timeout)

    def send(self, items: Sequence[bytes]) -> None:
        try:
            response = self._http.post(EVENTS_PATH, content=batch_body(items))
        except httpx.TransportError as exc:  # refused, reset, timed out, DNS...
            raise RetryableError(f"{type(exc).__name__}: {exc}") from exc
        raise_for_ingest(response)

    def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        """A registry call (register, heartbeat); raises ``httpx.HTTPError``."""
        return self._http.post(path, json=body)

    def close(self) -> None:
        self._http.close()


class AsyncHttpTransport(_HttpBase):
    """Non-blocking transport for :class:`aiops_sdk.AsyncAIOpsClient`.

    The ``httpx.AsyncClient`` is made on first use, inside the running loop it belongs to.
    """

    def __init__(self, url: str, token: str | None = None, *, timeout: float = 10.0) -> None:
        super().__init__(url, token, timeout)
        self._http: httpx.AsyncClient | None = None

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                base_url=self.url, headers=_headers(self.token), timeout=self.timeout
            )
        return self._http

    async def send(self, items: Sequence[bytes]) -> None:
        try:
            response = await self.http.post(EVENTS_PATH, content=batch_body(items))
        except httpx.TransportError as exc:
            raise RetryableError(f"{type(exc).__name__}: {exc}") from exc
        raise_for_ingest(response)

    async def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return await self.http.post(path, json=body)

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
