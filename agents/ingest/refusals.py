"""Refusals: every bad request is an :class:`IngestRefused` carrying its status, a
machine-readable reason (the label of ``ai_ops_ingest_refused_total``), a message and the
failing fields. Nothing is published when one is raised."""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Histogram
from pydantic import ValidationError

INGEST_SECONDS = Histogram(
    "ai_ops_ingest_seconds",
    "Time to validate and publish one ingest request",
    ["endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
INGEST_REFUSED = Counter(
    "ai_ops_ingest_refused", "Ingest requests refused, by reason", ["endpoint", "reason"]
)


class IngestRefused(Exception):
    """A request refused before anything was published."""

    def __init__(
        self,
        status: int,
        reason: str,
        detail: str,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.reason = reason
        self.detail = detail
        self.errors = errors or []
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"detail": self.detail}
        if self.errors:
            body["errors"] = self.errors
        return body


def invalid(detail: str, errors: list[dict[str, Any]], reason: str = "invalid") -> IngestRefused:
    return IngestRefused(400, reason, detail, errors)


def unauthorized(detail: str) -> IngestRefused:
    return IngestRefused(
        401, "unauthorized", detail, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
    )


def describe_validation_error(exc: ValidationError, prefix: str = "") -> list[dict[str, Any]]:
    """pydantic errors as ``{"field": "lines[3].message", "reason": ...}``, like events.py."""
    described = []
    for error in exc.errors(include_url=False):
        path = prefix
        for part in error["loc"]:
            path = f"{path}[{part}]" if isinstance(part, int) else f"{path}.{part}".lstrip(".")
        reason = error["msg"].removeprefix("Value error, ")
        described.append({"field": path or "body", "reason": reason})
    return described
