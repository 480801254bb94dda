"""Edges, diagnoses and recommendations in the admin."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from core.humane import ago_column, percent_column, words_column
from core.plain_data import ReadableJSONAdmin, one_line
from knowledge.admin import readable
from knowledge.admin.panels import node_link
from knowledge.models import (
    Diagnosis,
    Edge,
    Recommendation,
)

# --- Edges --------------------------------------------------------------------------------------


@admin.register(Edge)
class EdgeAdmin(admin.ModelAdmin):
    list_display = ("__str__", "source_link", "relation", "target_link", "weight", "evidence_count")
    list_filter = ("relation", "source_kind", "target_kind")
    readonly_fields = ("source_link", "target_link", "created_at", "updated_at")

    @admin.display(description="source")
    def source_link(self, obj: Edge) -> SafeString:
        return node_link(obj.source) if obj.pk else format_html("{}", "—")

    @admin.display(description="target")
    def target_link(self, obj: Edge) -> SafeString:
        return node_link(obj.target) if obj.pk else format_html("{}", "—")


# Ids in a diagnosis' evidence and hypotheses that name a problem curators can open.
PROBLEM_LINKS = {
    "problem": "admin:knowledge_problem_change",
    "corroborating_problems": "admin:knowledge_problem_change",
}


@admin.register(Diagnosis)
class DiagnosisAdmin(ReadableJSONAdmin):
    """What the diagnostic agent concluded, with its evidence; curators may dismiss one."""

    data_links = PROBLEM_LINKS
    data_renderers = {
        "evidence": readable.evidence,
        "hypotheses": readable.hypotheses,
        "suggestions": readable.suggestions,
    }

    list_display = (
        ago_column("created_at"), "problem", "service", words_column("signal"),
        percent_column("confidence"), "event_count", "status",
    )  # fmt: skip
    list_filter = ("status", "signal", "service")
    search_fields = ("root_cause", "signal", "problem__title", "problem__fingerprint")
    date_hierarchy = "created_at"
    list_select_related = ("problem",)
    readonly_fields = (
        "problem", "service", "instance", "trigger_event_id", "trigger_type", "root_cause",
        "signal", percent_column("confidence"), "hypotheses", "evidence", "suggestions",
        "event_count", "created_at", "last_seen",
    )  # fmt: skip
    exclude = ("confidence",)  # shown as a percent above, as the list and dashboard say it

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.display(description="value")
def value(recommendation: Recommendation) -> str:
    """A learned value on one line: "Batch size: 250", never ``{"batch_size": 250}``. The
    form keeps it as JSON: a curator overriding it writes the value the agents read."""
    return one_line(recommendation.value, 160)


@admin.register(Recommendation)
class RecommendationAdmin(ReadableJSONAdmin):
    """Values learned from traffic (e.g. the import batch size RetryWithSmallerBatch uses)."""

    list_display = ("key", value, "confidence", ago_column("updated_at"))
    search_fields = ("key",)
    readonly_fields = ("evidence", "updated_at")
