"""The client of a managed service's control API, found through the service registry.

The contract a managed service serves (the simulator implements it):

``POST {control_url}/control/{operation}``
    Body (JSON): ``{"run": <run id>, "instance": "<instance or empty>", "params": {...}}``.
    Header ``Idempotency-Key: remediation-<run id>-<operation>``: the same key must have
    the effect once, which is what makes our retries after a timeout safe.
    Answer: ``200`` with a JSON object ``{"ok": true, ...details}``. Any other status, a
    non-JSON body, or ``"ok": false`` is a failure. Operations used by the built-in
    actions: ``retry_import`` ({batch_size, import_id?}), ``restart`` ({instances, rolling}),
    ``scale`` ({delta}), ``clear_cache`` ({cache, pattern}), ``feature_flag``
    ({flag, enabled, duration_minutes?}), ``webhook/<path>`` (free JSON body).

``GET {control_url}/control/health``
    Answer: ``200`` with ``{"status": "healthy" | "degraded" | "unhealthy",
    "signals": {"<signal>": <occurrences in the last minute>, ...}}``; verification reads it.

``control_url`` is the service's registered control URL (``agents.models.Service``).
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from agents.control_urls import ControlUrlRefused, check_control_url
from agents.models import Service
from remediation.actions.base import ActionError

TIMEOUT_SECONDS = 5.0
ATTEMPTS = 3
BACKOFF_SECONDS = 0.2


def control_url_for(service: str) -> str:
    """The service's accepted control URL, checked against the allow-list at every call."""
    url = Service.objects.filter(name=service).values_list("control_url", flat=True).first()
    if not url:
        raise ActionError(f"service {service!r} has no registered control URL")
    try:
        check_control_url(url)
    except ControlUrlRefused as exc:
        raise ActionError(f"service {service!r}: control URL refused: {exc}") from None
    return url.rstrip("/")


def call(service: str, operation: str, body: dict[str, Any], *, run_id: int) -> dict[str, Any]:
    """POST one operation; retries transport errors and 5xx (safe: idempotency key)."""
    url = f"{control_url_for(service)}/control/{operation}"
    headers = {"Idempotency-Key": f"remediation-{run_id}-{operation}"}
    last_error = ""
    for attempt in range(ATTEMPTS):
        try:
            response = httpx.post(url, json=body, headers=headers, timeout=TIMEOUT_SECONDS)
        except httpx.HTTPError as exc:
            last_error = f"{type(exc).__name__}: {exc}"
        else:
            if response.status_code < 500:
                return _checked(response, url)
            last_error = f"HTTP {response.status_code}"
        if attempt + 1 < ATTEMPTS:
            time.sleep(BACKOFF_SECONDS * 2**attempt)
    raise ActionError(f"{url}: {last_error} after {ATTEMPTS} attempts")


def _checked(response: httpx.Response, url: str) -> dict[str, Any]:
    if response.status_code != 200:
        raise ActionError(f"{url}: HTTP {response.status_code}: {response.text[:200]}")
    try:
        body = response.json()
    except ValueError:
        raise ActionError(f"{url}: the answer is not JSON") from None
    if not isinstance(body, dict) or body.get("ok") is not True:
        raise ActionError(f"{url}: the service refused: {str(body)[:200]}")
    return body


def health(service: str) -> dict[str, Any] | None:
    """The control API's health report, or None when it cannot be read."""
    try:
        response = httpx.get(f"{control_url_for(service)}/control/health", timeout=TIMEOUT_SECONDS)
        body = response.json() if response.status_code == 200 else None
    except (ActionError, httpx.HTTPError, ValueError):
        return None
    return body if isinstance(body, dict) else None
