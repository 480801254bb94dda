"""Incidents in the admin: read-only views of their state and timeline. State moves go
through ``knowledge.services.incidents`` (the dashboard's buttons), never this form."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from core.humane import ago_column
from knowledge.models import Incident, IncidentEvent


class TimelineInline(admin.TabularInline):
    model = IncidentEvent
    fields = ("at", "kind", "from_state", "to_state", "actor_label", "text", "run_id")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    list_display = (
        "title",
        "service",
        "severity",
        "state",
        ago_column("opened_at"),
        ago_column("resolved_at"),
    )
    list_filter = ("state", "severity", "service")
    search_fields = ("title", "service")
    readonly_fields = (
        "diagnosis", "service", "cause", "title", "severity", "state", "opened_at",
        "acknowledged_at", "acknowledged_by", "resolved_at", "resolution", "updated_at",
    )  # fmt: skip
    inlines = (TimelineInline,)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
