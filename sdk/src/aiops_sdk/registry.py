"""Service registry calls shared by both clients: what a registration says, and how the
answers of ``register`` and ``heartbeat`` are read."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from aiops_sdk.core import logger
from aiops_sdk.http import HEARTBEAT_PATH, REGISTER_PATH

DEFAULT_HEARTBEAT_INTERVAL = 10.0
# The registry calls an instance stale after its TTL without a heartbeat: three missed beats,
# so one slow request or a GC pause does not flap it.
TTL_BEATS = 3


@dataclass(frozen=True)
class Registration:
    """One service instance as the registry knows it."""

    service: str
    instance: str
    version: str = ""
    base_url: str = ""
    health_url: str = ""
    control_url: str = ""
    tags: dict[str, Any] = field(default_factory=dict)
    heartbeat_interval: float | None = None

    register_path = REGISTER_PATH

    def body(self) -> dict[str, Any]:
        """The register request; empty URLs are left out (the registry wants real URLs)."""
        body: dict[str, Any] = {
            "service": self.service,
            "instance": self.instance,
            "version": self.version,
            "tags": self.tags,
        }
        for name in ("base_url", "health_url", "control_url"):
            if getattr(self, name):
                body[name] = getattr(self, name)
        if self.heartbeat_interval is not None:
            body["heartbeat_ttl_seconds"] = max(1, math.ceil(self.heartbeat_interval * TTL_BEATS))
        return body

    @property
    def heartbeat_path(self) -> str:
        return HEARTBEAT_PATH.format(
            service=quote(self.service, safe=""), instance=quote(self.instance, safe="")
        )


def registry_ok(response: httpx.Response | None, action: str) -> bool:
    """True for a 2xx answer; anything else is logged (the registry is best-effort: a
    service must keep serving when AI-Ops Core is away)."""
    if response is not None and response.is_success:
        return True
    status = "no answer" if response is None else f"HTTP {response.status_code}"
    logger.warning("service registry %s failed: %s", action, status)
    return False


def needs_registration(response: httpx.Response | None) -> bool:
    """The registry forgot this instance (expired, or never heard of it): register again."""
    return response is not None and response.status_code == 404
