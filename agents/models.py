"""Models of the agents app: API tokens for ingest, and the service registry.

Row behaviour lives here (issuing and revoking a token, deriving an instance's status);
changes that span rows or talk to the network live in ``agents/ingest/`` and
``agents/service_registry.py``.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.db import models
from django.utils import timezone

from core.humane import exact
from core.plain_data import number
from knowledge.incident_text import readable

TOKEN_PREFIX = "aiops_"  # noqa: S105 (a marker that makes leaked tokens greppable)
# "aiops_" plus 8 characters of the secret: shown in the admin and used to find the row.
TOKEN_LOOKUP_LENGTH = len(TOKEN_PREFIX) + 8


def hash_token(plaintext: str) -> str:
    """SHA-256 of the token. Tokens are 32 random bytes, so no slow password hash is needed:
    nobody can brute-force 256 bits, and a fast hash keeps authentication off the hot path."""
    return hashlib.sha256(plaintext.encode()).hexdigest()


class ApiToken(models.Model):
    """A per-service bearer token for the ingest API. Only its hash is stored."""

    name = models.CharField(max_length=100, help_text="What the token is for, e.g. 'web pods'.")
    service = models.CharField(
        max_length=100,
        help_text="The service this token speaks for: events name it as their source (a "
        "missing source is filled with it), and it registers only this service's instances.",
    )
    also_services = models.JSONField(
        default=list,
        blank=True,
        help_text="Other services this token may speak for, e.g. one deployment's web and "
        "worker; empty means only its own.",
    )
    prefix = models.CharField(max_length=TOKEN_LOOKUP_LENGTH, unique=True, editable=False)
    token_hash = models.CharField(max_length=64, editable=False)
    scopes = models.JSONField(
        default=list,
        blank=True,
        help_text="Endpoints this token may use (events, logs, alertmanager, registry, "
        "knowledge); empty means all. 'control' lets it change a registered control URL, and "
        "an explicit 'alertmanager' lets alerts name the service in their labels.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["service", "name"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.service}, {self.prefix}…)"

    @classmethod
    def issue(
        cls,
        name: str,
        service: str,
        *,
        scopes: list[str] | None = None,
        also_services: list[str] | None = None,
    ) -> tuple[ApiToken, str]:
        """Create a token; the plaintext is returned here once and never stored."""
        token = cls(
            name=name, service=service, scopes=scopes or [], also_services=also_services or []
        )
        plaintext = token.assign_secret()
        token.save()
        return token, plaintext

    def assign_secret(self) -> str:
        """Give an unsaved token a fresh secret; returns the plaintext (shown once)."""
        plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
        self.prefix = plaintext[:TOKEN_LOOKUP_LENGTH]
        self.token_hash = hash_token(plaintext)
        return plaintext

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def revoke(self) -> bool:
        """Revoke once; True when this call revoked it (a conditional update, so two admins
        revoking at once record one time)."""
        now = timezone.now()
        changed = ApiToken.objects.filter(pk=self.pk, revoked_at__isnull=True).update(
            revoked_at=now
        )
        if changed:
            self.revoked_at = now
        return bool(changed)


class Service(models.Model):
    """A managed service known to the registry (its instances register themselves)."""

    name = models.SlugField(max_length=100, unique=True)
    version = models.CharField(max_length=100, blank=True, help_text="Last version registered.")
    control_url = models.URLField(
        blank=True, help_text="The service's control API, used by remediation actions."
    )
    tags = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class InstanceStatus(models.TextChoices):
    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"
    STALE = "stale"


class CheckResult(models.TextChoices):
    OK = "ok"
    DEGRADED = "degraded"
    FAILED = "failed"


class ServiceInstance(models.Model):
    """One running copy of a service: heartbeats say it is alive, health checks say it works."""

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="instances")
    instance_id = models.CharField(max_length=200)
    version = models.CharField(max_length=100, blank=True)
    base_url = models.URLField(blank=True)
    health_url = models.URLField(blank=True)
    tags = models.JSONField(default=dict, blank=True)
    heartbeat_ttl_seconds = models.PositiveIntegerField(default=30)
    registered_at = models.DateTimeField(default=timezone.now)
    last_heartbeat_at = models.DateTimeField(null=True, blank=True)
    last_check_result = models.CharField(
        max_length=10, choices=CheckResult.choices, blank=True, default=""
    )
    last_check_latency_ms = models.FloatField(null=True, blank=True)
    last_check_error = models.CharField(max_length=500, blank=True, default="")
    last_checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["service__name", "instance_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["service", "instance_id"], name="agents_instance_unique_per_service"
            )
        ]

    def __str__(self) -> str:
        return f"{self.service.name}/{self.instance_id}"

    def heartbeat_expired(self, now: datetime | None = None) -> bool:
        if self.last_heartbeat_at is None:
            return True
        now = now or timezone.now()
        return now - self.last_heartbeat_at > timedelta(seconds=self.heartbeat_ttl_seconds)

    def get_status(self, now: datetime | None = None) -> InstanceStatus:
        """Down when its health check failed (it answered, badly, or not at all); stale when
        it stopped beating; degraded when the check says so; up otherwise.

        A failed check outranks a missing heartbeat: "we tried and it failed" says more than
        "we have not heard from it". Instances without a health URL go by heartbeats alone.
        """
        if self.last_check_result == CheckResult.FAILED:
            return InstanceStatus.DOWN
        if self.heartbeat_expired(now):
            return InstanceStatus.STALE
        if self.last_check_result == CheckResult.DEGRADED:
            return InstanceStatus.DEGRADED
        return InstanceStatus.UP

    @property
    def status(self) -> InstanceStatus:
        return self.get_status()

    def is_healthy(self, now: datetime | None = None) -> bool:
        """Fit to receive traffic: up, or degraded (working, but slow or impaired)."""
        return self.get_status(now) in (InstanceStatus.UP, InstanceStatus.DEGRADED)


class AgentStatus(models.TextChoices):
    STARTING = "starting", "starting"
    RUNNING = "running", "running"
    DEGRADED = "degraded", "degraded"
    DOWN = "down", "down"
    DISABLED = "disabled", "disabled"


class Agent(models.Model):
    """One registered agent kind and how it is doing across every worker that runs it.

    Workers fold their counters in at each heartbeat (``agents/runtime.py``); the row is the
    operator's view and the on/off switch (``enabled``), not the hot path.
    """

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=50)
    version = models.CharField(max_length=20)
    description = models.TextField(blank=True)
    subscribes = models.JSONField(default=list, blank=True, editable=False)
    enabled = models.BooleanField(
        default=True, help_text="A disabled agent reads nothing; its events wait in the streams."
    )
    status = models.CharField(
        max_length=20, choices=AgentStatus.choices, default=AgentStatus.STARTING
    )
    last_heartbeat = models.DateTimeField(null=True, blank=True)
    events_processed = models.BigIntegerField(default=0)
    errors = models.BigIntegerField(default=0)
    current_activity = models.CharField(max_length=300, blank=True)
    last_error = models.TextField(blank=True)
    workers = models.JSONField(
        default=dict, blank=True, help_text="Each consumer and when it last beat."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def heartbeat_age(self, now: datetime | None = None) -> float | None:
        if self.last_heartbeat is None:
            return None
        return ((now or timezone.now()) - self.last_heartbeat).total_seconds()

    def is_stale(self, stale_after: timedelta, now: datetime | None = None) -> bool:
        age = self.heartbeat_age(now)
        return age is None or age > stale_after.total_seconds()


# --- Monitor: metric series, their points, and the anomalies found on them -------------------


class MetricKind(models.TextChoices):
    COUNT = "count", "count per minute"
    RATIO = "ratio", "ratio"
    LATENCY = "latency", "latency"
    GAUGE = "gauge", "gauge"


class MetricSeries(models.Model):
    """One chartable series, named with its labels: ``api.latency_p95{endpoint=/api/x}``.

    Written by the monitor agent's minute finalisation (``agents/monitor/finaliser.py``); the
    name is the identity, so every worker finds the same row without coordination.
    """

    name = models.CharField(max_length=300, unique=True)
    unit = models.CharField(max_length=20, blank=True)
    kind = models.CharField(max_length=10, choices=MetricKind.choices, default=MetricKind.GAUGE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "metric series"

    def __str__(self) -> str:
        return self.name


class MetricPoint(models.Model):
    """A series' value for one closed minute. Upserted, so re-finalising a minute is harmless."""

    series = models.ForeignKey(MetricSeries, on_delete=models.CASCADE, related_name="points")
    minute = models.DateTimeField(help_text="Start of the minute.")
    value = models.FloatField()

    class Meta:
        ordering = ["series", "minute"]
        constraints = [
            models.UniqueConstraint(fields=["series", "minute"], name="agents_point_per_minute")
        ]
        indexes = [models.Index(fields=["minute"], name="agents_point_minute")]

    def __str__(self) -> str:
        return f"{self.series_id} @ {self.minute:%Y-%m-%d %H:%M} = {self.value:g}"


class AnomalyDetector(models.TextChoices):
    MINUTE = "minute", "minute rollup (streaming detector)"
    BURST = "burst", "fast path (seconds against the recent baseline)"


class Anomaly(models.Model):
    """An anomaly the monitor raised: what, how sure, against what expectation, and proof.

    Unique per (series, detector, window start), so a redelivered or re-finalised window
    records it once. ``problem`` is the knowledge-graph Problem its sighting counted for.
    """

    series = models.CharField(max_length=300, db_index=True)
    detector = models.CharField(max_length=10, choices=AnomalyDetector.choices)
    category = models.CharField(max_length=20)
    severity = models.CharField(max_length=10)
    score = models.FloatField()
    value = models.FloatField()
    expected = models.FloatField(null=True, blank=True, help_text="Median or baseline.")
    expected_low = models.FloatField(null=True, blank=True)
    expected_high = models.FloatField(null=True, blank=True)
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    evidence = models.JSONField(default=dict, blank=True)
    detected_at = models.DateTimeField(default=timezone.now, db_index=True)
    problem = models.ForeignKey(
        "knowledge.Problem",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="anomalies",
    )

    class Meta:
        ordering = ["-detected_at"]
        verbose_name_plural = "anomalies"
        constraints = [
            models.UniqueConstraint(
                fields=["series", "detector", "window_start"], name="agents_anomaly_once"
            )
        ]

    def __str__(self) -> str:
        series = readable(self.series, 200)
        return f"Anomaly on {series} (score {number(self.score)}) from {exact(self.window_start)}"
