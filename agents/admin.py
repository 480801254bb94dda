"""Admin: API tokens, the service registry, agents (on/off switch), metric series, anomalies."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.contrib import admin, messages
from django.db import models
from django.db.models import Count, QuerySet
from django.forms import ModelForm
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from agents import service_registry
from agents.ingest import tokens
from agents.models import Agent, Anomaly, ApiToken, MetricSeries, Service, ServiceInstance
from core.humane import ago, ago_column, exact
from core.plain_data import EMPTY, Links, ReadableJSONAdmin, number
from knowledge.incident_text import readable

# Registered URLs come from services on an internal network, usually plain http; say so
# rather than rely on Django's changing default scheme.
URL_FIELDS = {models.URLField: {"assume_scheme": "http"}}


@admin.register(ApiToken)
class ApiTokenAdmin(ReadableJSONAdmin):
    list_display = (
        "name",
        "service",
        "prefix",
        ago_column("created_at"),
        ago_column("last_used_at"),
        "state",
    )
    list_filter = ("service", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("name", "service", "prefix")
    readonly_fields = ("prefix", "created_at", "last_used_at", "revoked_at")
    line_fields = ("also_services", "scopes")
    actions = ("revoke_tokens",)

    @admin.display(description="state")
    def state(self, token: ApiToken) -> str:
        return "active" if token.is_active else f"revoked {exact(token.revoked_at)}"

    def save_model(
        self, request: HttpRequest, obj: ApiToken, form: ModelForm, change: bool
    ) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        plaintext = obj.assign_secret()
        super().save_model(request, obj, form, change)
        # The only time the token is ever shown: only its hash is stored.
        messages.warning(
            request,
            f"Token for {obj.service}: {plaintext} (copy it now; it will not be shown again)",
        )

    @admin.action(description="Revoke selected tokens")
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        revoked = sum(tokens.revoke_token(token) for token in queryset)
        self.message_user(request, f"Revoked {revoked} token(s).", messages.SUCCESS)


class ServiceInstanceInline(admin.TabularInline):
    model = ServiceInstance
    extra = 0
    formfield_overrides = URL_FIELDS
    fields = (
        "instance_id",
        "status",
        "version",
        "base_url",
        "last_heartbeat_at",
        "last_checked_at",
    )
    readonly_fields = fields
    can_delete = True
    show_change_link = True

    @admin.display(description="status")
    def status(self, instance: ServiceInstance) -> str:
        return instance.status.value

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # instances register themselves


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    formfield_overrides = URL_FIELDS
    list_display = ("name", "version", "instance_count", ago_column("updated_at"))
    search_fields = ("name",)
    inlines = (ServiceInstanceInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Service]:
        return super().get_queryset(request).annotate(instance_total=Count("instances"))

    @admin.display(description="instances", ordering="instance_total")
    def instance_count(self, service: Service) -> int:
        return service.instance_total


@admin.register(ServiceInstance)
class ServiceInstanceAdmin(admin.ModelAdmin):
    formfield_overrides = URL_FIELDS
    list_display = (
        "instance_id",
        "service",
        "status",
        "version",
        ago_column("last_heartbeat_at"),
        "last_check_result",
        "last_check_latency_ms",
        ago_column("last_checked_at"),
    )
    list_filter = ("service", "last_check_result")
    list_select_related = ("service",)
    search_fields = ("instance_id", "service__name", "base_url")
    readonly_fields = (
        "status",
        "registered_at",
        "last_heartbeat_at",
        "last_check_result",
        "last_check_latency_ms",
        "last_check_error",
        "last_checked_at",
    )
    actions = ("check_health_now",)

    @admin.display(description="status")
    def status(self, instance: ServiceInstance) -> str:
        return instance.status.value

    @admin.action(description="Check health now")
    def check_health_now(self, request: HttpRequest, queryset: QuerySet[ServiceInstance]) -> None:
        results = [
            service_registry.check_instance_health(pk)
            for pk in queryset.values_list("pk", flat=True)
        ]
        checked = [r for r in results if r is not None]
        self.message_user(request, f"Checked {len(checked)} instance(s).", messages.INFO)


def worker_beats(workers: Any, links: Links) -> SafeString:
    """Each consumer and when it last beat ("3 minutes ago", exact on hover): the row keeps
    Unix times, which say nothing to a person."""
    rows = [
        (name, ago(datetime.fromtimestamp(beat, UTC)))
        for name, beat in sorted((workers or {}).items())
        if isinstance(beat, int | float)
    ]
    if not rows:
        return format_html('<span class="data-empty">{}</span>', EMPTY)
    items = format_html_join("", "<dt>{}</dt><dd>last beat {}</dd>", rows)
    return format_html('<dl class="data">{}</dl>', items)


@admin.register(Agent)
class AgentAdmin(ReadableJSONAdmin):
    """Operators switch agents on and off here; the rest is reported by the workers."""

    list_display = (
        "name", "kind", "version", "enabled", "status", ago_column("last_heartbeat"),
        "events_processed", "errors", "current_activity",
    )  # fmt: skip
    list_filter = ("enabled", "status", "kind")
    list_editable = ("enabled",)
    search_fields = ("name", "description")
    readonly_fields = (
        "name", "kind", "version", "description", "subscribes", "status", "last_heartbeat",
        "events_processed", "errors", "current_activity", "last_error", "workers", "updated_at",
    )  # fmt: skip

    data_renderers = {"workers": worker_beats}

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # agents are registered in code, their rows follow


@admin.register(MetricSeries)
class MetricSeriesAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "unit")
    list_filter = ("kind",)
    search_fields = ("name",)


# Module functions, not admin methods: named like the fields, so the cells keep their
# "field-series" class (admin.css wraps it), which a method named like a field cannot.
@admin.display(description="series", ordering="series")
def series(anomaly: Anomaly) -> str:
    # "latency_ms (endpoint=/api)" as the dashboard says it, not a dict-like "{...}".
    return readable(anomaly.series, 300)


@admin.display(description="value", ordering="value")
def value(anomaly: Anomaly) -> str:
    return number(anomaly.value)


@admin.register(Anomaly)
class AnomalyAdmin(ReadableJSONAdmin):
    list_display = (
        ago_column("detected_at"), series, "detector", "score", value, "problem",
    )  # fmt: skip
    list_filter = ("detector",)
    search_fields = ("series",)
    date_hierarchy = "detected_at"
    list_select_related = ("problem",)
    readonly_fields = [f.name for f in Anomaly._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
