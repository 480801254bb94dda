"""The service registry: instances register, beat, get health-checked, and are discovered.

Status is derived on the model (``ServiceInstance.get_status``) from two facts kept here:
the last heartbeat (pushed by the instance) and the last health check (pulled by the
``check_service_health`` task). Health checks make network calls outside any transaction;
only their results are written, one UPDATE per instance.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from django.db import transaction
from django.utils import timezone
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from agents.models import CheckResult, Service, ServiceInstance

logger = logging.getLogger(__name__)

HEALTH_CHECK_TIMEOUT_SECONDS = 2.0
# A health check slower than this counts as degraded even when it answers 2xx.
DEGRADED_LATENCY_MS = 1000.0
HEALTH_CHECK_CONCURRENCY = 8
DEGRADED_BODY_STATUSES = frozenset({"degraded", "warn", "warning"})


class Registration(BaseModel):
    """What an instance sends to register itself (``POST /api/v1/services/register``)."""

    model_config = ConfigDict(extra="forbid")

    service: str | None = Field(
        default=None,
        pattern=r"^[-a-zA-Z0-9_]+$",
        max_length=100,
        description="Defaults to the token's service.",
    )
    instance: str = Field(min_length=1, max_length=200, description="e.g. the pod or host name")
    version: str = Field(default="", max_length=100)
    base_url: AnyHttpUrl | None = None
    health_url: AnyHttpUrl | None = None
    control_url: AnyHttpUrl | None = None
    tags: dict[str, Any] = Field(default_factory=dict)
    heartbeat_ttl_seconds: int = Field(default=30, ge=1, le=86_400)


def _url(value: AnyHttpUrl | str | None) -> str:
    return str(value) if value else ""


class ControlUrlLocked(PermissionError):
    """A registration tried to move an existing service's control URL without the right."""


def register_instance(
    service: str,
    instance_id: str,
    *,
    version: str = "",
    base_url: str = "",
    health_url: str = "",
    control_url: str = "",
    tags: dict[str, Any] | None = None,
    heartbeat_ttl_seconds: int = 30,
    may_change_control_url: bool = True,
) -> ServiceInstance:
    """Create or refresh an instance (registering counts as a heartbeat).

    A previous health check result is kept: an instance that was down stays down until the
    next check says otherwise, so discovery never routes to it on its word alone. A service's
    control URL, once set, moves only when ``may_change_control_url`` (an admin, or a token
    with the ``control`` scope): remediation acts on whatever it points at.
    """
    now = timezone.now()
    with transaction.atomic():
        svc, created = Service.objects.select_for_update().get_or_create(
            name=service, defaults={"version": version, "control_url": control_url}
        )
        moves = control_url and svc.control_url and control_url != svc.control_url
        if not created and moves and not may_change_control_url:
            raise ControlUrlLocked(
                f"service {service!r} already has control URL {svc.control_url}; changing it "
                "needs an admin or a token with the 'control' scope"
            )
        if not created and (version or control_url):
            svc.version = version or svc.version
            svc.control_url = control_url or svc.control_url
            svc.save(update_fields=["version", "control_url", "updated_at"])
        instance, _ = ServiceInstance.objects.update_or_create(
            service=svc,
            instance_id=instance_id,
            defaults={
                "version": version,
                "base_url": base_url,
                "health_url": health_url,
                "tags": tags or {},
                "heartbeat_ttl_seconds": heartbeat_ttl_seconds,
                "last_heartbeat_at": now,
            },
        )
    return instance


def register(
    registration: Registration, *, service: str, may_change_control_url: bool
) -> ServiceInstance:
    """Register from the API's validated body (the caller checked the token's services)."""
    return register_instance(
        service,
        registration.instance,
        version=registration.version,
        base_url=_url(registration.base_url),
        health_url=_url(registration.health_url),
        control_url=_url(registration.control_url),
        tags=registration.tags,
        heartbeat_ttl_seconds=registration.heartbeat_ttl_seconds,
        may_change_control_url=may_change_control_url,
    )


def record_instance_heartbeat(service: str, instance_id: str) -> ServiceInstance | None:
    """Mark an instance alive; None when it never registered (it should register again)."""
    now = timezone.now()
    changed = ServiceInstance.objects.filter(service__name=service, instance_id=instance_id).update(
        last_heartbeat_at=now
    )
    if not changed:
        return None
    return ServiceInstance.objects.select_related("service").get(
        service__name=service, instance_id=instance_id
    )


def list_instances(service: str, *, healthy_only: bool = False) -> list[ServiceInstance] | None:
    """A service's instances (None when the service is unknown), optionally only healthy ones."""
    svc = Service.objects.filter(name=service).first()
    if svc is None:
        return None
    instances = list(svc.instances.select_related("service"))
    if healthy_only:
        now = timezone.now()
        instances = [i for i in instances if i.is_healthy(now)]
    return instances


def healthy_instances(service: str) -> list[ServiceInstance]:
    """Instances fit for traffic (up or degraded); empty for an unknown service."""
    return list_instances(service, healthy_only=True) or []


# --- Health checks ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """The outcome of one HTTP health check (no database involved)."""

    result: CheckResult
    latency_ms: float | None
    error: str = ""


def _body_status(response: httpx.Response) -> str:
    """The ``status`` a JSON health body reports, if any (``{"status": "degraded"}``)."""
    if "json" not in response.headers.get("content-type", ""):
        return ""
    try:
        body = response.json()
    except ValueError:
        return ""
    status = body.get("status") if isinstance(body, dict) else None
    return status.lower() if isinstance(status, str) else ""


def probe(url: str, *, client: httpx.Client | None = None) -> Probe:
    """GET the health URL: 2xx is ok (degraded when slow or when the body says so); anything
    else, a timeout or a refused connection is failed."""
    started = time.perf_counter()
    try:
        if client is None:
            response = httpx.get(url, timeout=HEALTH_CHECK_TIMEOUT_SECONDS)
        else:
            response = client.get(url)
    except httpx.HTTPError as exc:
        latency = (time.perf_counter() - started) * 1000
        return Probe(CheckResult.FAILED, round(latency, 1), f"{type(exc).__name__}: {exc}"[:500])
    latency = round((time.perf_counter() - started) * 1000, 1)
    if not response.is_success:
        return Probe(CheckResult.FAILED, latency, f"HTTP {response.status_code}")
    if _body_status(response) in DEGRADED_BODY_STATUSES:
        return Probe(CheckResult.DEGRADED, latency, "health endpoint reports degraded")
    if latency > DEGRADED_LATENCY_MS:
        return Probe(CheckResult.DEGRADED, latency, f"slow health check ({latency:.0f} ms)")
    return Probe(CheckResult.OK, latency)


def record_check(instance_id: int, outcome: Probe) -> None:
    ServiceInstance.objects.filter(pk=instance_id).update(
        last_check_result=outcome.result,
        last_check_latency_ms=outcome.latency_ms,
        last_check_error=outcome.error,
        last_checked_at=timezone.now(),
    )


def check_instance_health(instance_id: int) -> CheckResult | None:
    """Check one instance now; None when it is gone or has no health URL."""
    url = (
        ServiceInstance.objects.filter(pk=instance_id).values_list("health_url", flat=True).first()
    )
    if not url:
        return None
    outcome = probe(url)
    record_check(instance_id, outcome)
    return outcome.result


def check_all_instances() -> int:
    """Check every instance that has a health URL, a few at a time; returns how many.

    Probes run in threads (network only); results are written from this thread, so no
    database connection is opened by a pool thread and left behind in a worker.
    """
    targets = list(ServiceInstance.objects.exclude(health_url="").values_list("pk", "health_url"))
    if not targets:
        return 0
    with (
        httpx.Client(timeout=HEALTH_CHECK_TIMEOUT_SECONDS) as client,
        ThreadPoolExecutor(max_workers=HEALTH_CHECK_CONCURRENCY) as pool,
    ):
        outcomes = list(pool.map(lambda target: probe(target[1], client=client), targets))
    for (pk, _), outcome in zip(targets, outcomes, strict=True):
        record_check(pk, outcome)
    failed = sum(1 for o in outcomes if o.result == CheckResult.FAILED)
    logger.info("service health checked", extra={"instances": len(targets), "failed": failed})
    return len(targets)


def instance_summary(instance: ServiceInstance, now: datetime | None = None) -> dict[str, Any]:
    """The API's view of an instance."""
    return {
        "service": instance.service.name,
        "instance": instance.instance_id,
        "status": instance.get_status(now).value,
        "version": instance.version,
        "base_url": instance.base_url,
        "health_url": instance.health_url,
        "tags": instance.tags,
        "heartbeat_ttl_seconds": instance.heartbeat_ttl_seconds,
        "last_heartbeat_at": instance.last_heartbeat_at,
        "last_check_result": instance.last_check_result or None,
        "last_check_latency_ms": instance.last_check_latency_ms,
        "last_checked_at": instance.last_checked_at,
    }
