"""Solutions in the admin, with their track record and edges."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from knowledge import services
from knowledge.admin.panels import edges_panel
from knowledge.models import (
    Solution,
)

# --- Solutions ----------------------------------------------------------------------------------


@admin.register(Solution)
class SolutionAdmin(admin.ModelAdmin):
    list_display = ("title", "problem", "action", "source", "success_rate")
    list_filter = ("source", "action")
    search_fields = ("title", "steps", "action", "problem__title", "problem__fingerprint")
    list_select_related = ("problem",)
    autocomplete_fields = ("problem",)
    readonly_fields = ("successes", "failures", "success_rate", "edges_panel")
    ordering = ("-success_lower_bound", "title")

    @admin.display(description="success rate", ordering="success_lower_bound")
    def success_rate(self, obj: Solution) -> str:
        return obj.success_label

    @admin.display(description="edges")
    def edges_panel(self, obj: Solution) -> SafeString:
        return edges_panel(obj.node) if obj.pk else format_html("<em>{}</em>", "none")

    def save_model(self, request: HttpRequest, obj: Solution, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        # A new solution also gets its solved_by edge.
        saved, _ = services.add_solution(
            obj.problem,
            obj.title,
            steps=obj.steps,
            action=obj.action,
            parameters=obj.parameters,
            source=obj.source,
        )
        obj.pk = saved.pk
        obj._state.adding = False
