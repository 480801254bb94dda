"""Incidents in the admin: read-only views of their state and timeline. State moves go
through ``knowledge.services.incidents`` (the dashboard's buttons), never this form."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.safestring import SafeString

from core.humane import ago_column
from knowledge.admin.panels import node_link
from knowledge.models import Incident, IncidentEvent, NodeKind


@admin.display(description="by")
def actor_label(row: Any) -> str:
    """Who moved it, headed "By" (the field's own name reads "Actor label"); named like the
    field so its cells keep their "field-actor_label" class."""
    return row.actor_label


class TimelineInline(admin.TabularInline):
    model = IncidentEvent
    fields = ("at", "kind", "from_state", "to_state", actor_label, "text", "run_id")
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
        "diagnosis", "service", "cause_words", "title", "severity", "state", "opened_at",
        "acknowledged_at", "acknowledged_by", "resolved_at", "resolution", "updated_at",
    )  # fmt: skip
    exclude = ("cause",)
    inlines = (TimelineInline,)

    @admin.display(description="cause")
    def cause_words(self, incident: Incident) -> SafeString | str:
        """The dedup key (``signal:import_timeout``, ``problem:12``) as what it means."""
        kind, _, name = incident.cause.partition(":")
        if kind == "problem" and name.isdigit():
            return node_link((NodeKind.PROBLEM, int(name)))
        if kind == "signal" and name:
            return f"the signal {name} (every diagnosis naming it on this service is one cause)"
        return incident.cause or "-"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
