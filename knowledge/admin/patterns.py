"""Patterns in the admin: validation, retirement, version history and rollback."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from knowledge import services
from knowledge.admin import readable
from knowledge.admin.panels import edges_panel
from knowledge.models import (
    Pattern,
    PatternVersion,
)

# --- Patterns -----------------------------------------------------------------------------------


class PatternVersionInline(admin.TabularInline):
    model = PatternVersion
    fields = ("version", "created_at", "created_by", "reason", "content", "rollback")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("-version",)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="content")
    def content(self, obj: PatternVersion) -> SafeString:
        return readable.pattern_snapshot(obj.snapshot)

    @admin.display(description="")
    def rollback(self, obj: PatternVersion) -> SafeString:
        if obj.version == obj.pattern.version:
            return format_html("<em>{}</em>", "current")
        url = reverse("admin:knowledge_pattern_rollback", args=[obj.pattern_id, obj.version])
        # formaction posts the change form (and its CSRF token) to the rollback view: no
        # nested form, and a rollback is never a GET.
        return format_html(
            '<button type="submit" class="button" formaction="{}" formmethod="post" '
            'name="_rollback">Roll back to v{}</button>',
            url,
            obj.version,
        )


@admin.register(Pattern)
class PatternAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "kind",
        "confidence",
        "validated",
        "retired",
        "accuracy_display",
        "version",
    )
    list_filter = ("kind", "validated", "retired")
    search_fields = ("name", "description")
    autocomplete_fields = ("problems", "solutions")
    readonly_fields = (
        "version",
        "matches_confirmed",
        "matches_refuted",
        "accuracy_display",
        "edges_panel",
    )
    inlines = (PatternVersionInline,)
    actions = ("validate", "retire", "rollback_previous")

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "matcher" and field is not None:
            # The model's example is Python's {'signal': '...'}, which the JSON field refuses.
            field.help_text = (
                'How to recognise it, as JSON: {"signal": "import_timeout"}, or '
                '{"signals": ["import_timeout", "metadata_fetch_timeout"], '
                '"action": "retry_with_smaller_batch"}.'
            )
        return field

    @admin.display(description="accuracy")
    def accuracy_display(self, obj: Pattern) -> str:
        accuracy = obj.accuracy
        if accuracy is None:
            return "—"
        judged = obj.matches_confirmed + obj.matches_refuted
        return f"{accuracy:.0%} ({obj.matches_confirmed}/{judged})"

    @admin.display(description="edges")
    def edges_panel(self, obj: Pattern) -> SafeString:
        return edges_panel(obj.node) if obj.pk else format_html("<em>{}</em>", "none")

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        # After the many-to-many links are saved, so the version records them too.
        if not change or form.changed_data:
            reason = "created in admin" if not change else "edited: " + ", ".join(form.changed_data)
            services.save_pattern_version(form.instance, request.user, reason)

    def get_urls(self) -> list[Any]:
        urls = [
            path(
                "<int:pk>/rollback/<int:version>/",
                self.admin_site.admin_view(self.rollback_view),
                name="knowledge_pattern_rollback",
            )
        ]
        return urls + super().get_urls()

    def rollback_view(self, request: HttpRequest, pk: int, version: int) -> HttpResponse:
        """Posted by a version row's button; a new version with that version's content."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        pattern = get_object_or_404(Pattern, pk=pk)
        if not self.has_change_permission(request, pattern):
            raise PermissionDenied
        get_object_or_404(PatternVersion, pattern=pattern, version=version)
        new = services.rollback_pattern(pattern, version, request.user)
        self.message_user(
            request, f"Rolled back to v{version} (saved as v{new.version}).", messages.SUCCESS
        )
        return HttpResponseRedirect(reverse("admin:knowledge_pattern_change", args=[pk]))

    @admin.action(description="Validate selected patterns")
    def validate(self, request: HttpRequest, queryset: QuerySet[Pattern]) -> None:
        changed = services.set_pattern_flags(queryset, user=request.user, validated=True)
        self.message_user(request, f"{changed} pattern(s) validated.", messages.SUCCESS)

    @admin.action(description="Retire selected patterns")
    def retire(self, request: HttpRequest, queryset: QuerySet[Pattern]) -> None:
        changed = services.set_pattern_flags(queryset, user=request.user, retired=True)
        self.message_user(request, f"{changed} pattern(s) retired.", messages.SUCCESS)

    @admin.action(description="Roll selected patterns back to their previous version")
    def rollback_previous(self, request: HttpRequest, queryset: QuerySet[Pattern]) -> None:
        done = 0
        for pattern in queryset:
            if pattern.version > 1:
                services.rollback_pattern(pattern, pattern.version - 1, request.user)
                done += 1
        level = messages.SUCCESS if done else messages.WARNING
        self.message_user(request, f"{done} pattern(s) rolled back.", level)
