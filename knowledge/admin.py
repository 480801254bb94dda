"""Curation of the knowledge graph in the Django admin.

Every change that spans rows (merges, status changes, pattern validation, rollbacks) calls
``knowledge/services.py``, so the admin emits the same events and keeps the same history as
the agents do. Read-only panels (similar problems, edges, version history) are rendered here
as small HTML fragments with links, so a curator can walk the graph from any node.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from knowledge import backup, services
from knowledge.models import (
    NODE_MODELS,
    Diagnosis,
    Edge,
    Node,
    Occurrence,
    Pattern,
    PatternVersion,
    Problem,
    ProblemStatus,
    Recommendation,
    Solution,
)
from knowledge.similarity import similar_problems

OCCURRENCES_SHOWN = 30
SIMILAR_SHOWN = 5


def node_link(node: Node, label: str | None = None) -> SafeString:
    """A link to a node's change page, labelled with its title or name."""
    kind, pk = node
    model = NODE_MODELS.get(kind)
    obj = model.objects.filter(pk=pk).first() if model else None
    text = label or (str(obj) if obj else f"{kind}:{pk} (deleted)")
    try:
        url = reverse(f"admin:knowledge_{kind}_change", args=[pk])
    except NoReverseMatch:
        return format_html("{}", text)
    return format_html('<a href="{}">{}</a> <small>({})</small>', url, text, kind)


def _table(headers: list[str], rows: list[tuple[Any, ...]]) -> SafeString:
    if not rows:
        return format_html("<em>{}</em>", "none")
    head = format_html_join("", "<th>{}</th>", ((h,) for h in headers))
    body = format_html_join(
        "", "<tr>{}</tr>", ((format_html_join("", "<td>{}</td>", ((c,) for c in r)),) for r in rows)
    )
    return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, body)


def edges_panel(node: Node) -> SafeString:
    """Every edge of a node, outgoing and incoming, with links to the other end."""
    kind, pk = node
    outgoing = Edge.objects.filter(source_kind=kind, source_id=pk)
    incoming = Edge.objects.filter(target_kind=kind, target_id=pk)
    rows = [
        ("→", e.get_relation_display(), node_link(e.target), f"{e.weight:.2f}", e.evidence_count)
        for e in outgoing
    ]
    rows += [
        ("←", e.get_relation_display(), node_link(e.source), f"{e.weight:.2f}", e.evidence_count)
        for e in incoming
    ]
    return _table(["", "relation", "node", "weight", "evidence"], rows)


# --- Problems -----------------------------------------------------------------------------------


class ServiceFilter(admin.SimpleListFilter):
    """Services are an array per problem, so the choices come from unnesting them."""

    title = "service"
    parameter_name = "service"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        names = Problem.objects.exclude(services=[]).values_list("services", flat=True).distinct()
        return [(name, name) for name in sorted({s for group in names for s in group})]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Problem]) -> QuerySet[Problem]:
        if self.value():
            return queryset.filter(services__contains=[self.value()])
        return queryset


class LatestOccurrences(BaseInlineFormSet):
    """Only the latest buckets: a busy problem has thousands, the page needs a glance."""

    def get_queryset(self) -> QuerySet[Occurrence]:
        if not hasattr(self, "_latest"):
            self._latest = super().get_queryset().order_by("-at")[:OCCURRENCES_SHOWN]
        return self._latest


class OccurrenceInline(admin.TabularInline):
    model = Occurrence
    formset = LatestOccurrences
    fields = ("at", "service", "instance", "count", "last_at", "event_ids")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = f"occurrences (latest {OCCURRENCES_SHOWN} minute buckets)"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class SolutionInline(admin.TabularInline):
    model = Solution
    fields = ("title", "action", "source", "success_rate")
    readonly_fields = ("success_rate",)
    extra = 0
    show_change_link = True

    @admin.display(description="success rate")
    def success_rate(self, obj: Solution) -> str:
        return obj.success_label if obj.pk else "—"


@admin.register(Problem)
class ProblemAdmin(admin.ModelAdmin):
    list_display = (
        "title",
        "category",
        "severity",
        "status",
        "signal",
        "occurrence_count",
        "last_seen",
        "merged_into",
    )
    list_filter = ("category", "severity", "status", ServiceFilter)
    search_fields = ("title", "fingerprint", "log_template", "signal")
    list_select_related = ("merged_into",)
    date_hierarchy = "last_seen"
    exclude = ("embedding",)
    readonly_fields = (
        "occurrence_count",
        "first_seen",
        "last_seen",
        "merged_into",
        "embedding_provider",
        "similar_problems_panel",
        "edges_panel",
    )
    inlines = (SolutionInline, OccurrenceInline)
    actions = ("merge_into_oldest", "export_json", "mark_resolved", "mark_ignored")
    fieldsets = (
        (None, {"fields": ("title", "fingerprint", "status", "category", "severity", "signal")}),
        ("Description", {"fields": ("description", "services", "error_patterns", "log_template")}),
        (
            "Sightings",
            {"fields": ("occurrence_count", "first_seen", "last_seen", "merged_into")},
        ),
        ("Graph", {"fields": ("similar_problems_panel", "edges_panel", "embedding_provider")}),
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        # The fingerprint is the problem's identity once it exists (sightings route by it).
        return (*self.readonly_fields, "fingerprint") if obj else self.readonly_fields

    @admin.display(description="similar problems")
    def similar_problems_panel(self, obj: Problem) -> SafeString:
        if obj.pk is None or obj.embedding is None:
            return format_html("<em>{}</em>", "no embedding yet")
        found = similar_problems(obj.embedding, k=SIMILAR_SHOWN, exclude_id=obj.pk)
        rows = [
            (node_link(p.node), f"{score:.3f}", p.get_category_display(), p.get_status_display())
            for p, score in found
        ]
        return _table(["problem", "score", "category", "status"], rows)

    @admin.display(description="edges")
    def edges_panel(self, obj: Problem) -> SafeString:
        return edges_panel(obj.node) if obj.pk else format_html("<em>{}</em>", "none")

    def save_model(self, request: HttpRequest, obj: Problem, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        services.problem_edited(obj, list(form.changed_data), created=not change)

    @admin.action(description="Merge selected problems into the oldest one")
    def merge_into_oldest(self, request: HttpRequest, queryset: QuerySet[Problem]) -> None:
        # Oldest record, not earliest sighting: the first-created problem is the one
        # curators have been editing (a seeded problem predates its first real sighting).
        problems = list(queryset.order_by("created_at", "pk"))
        if len(problems) < 2:
            self.message_user(request, "Select at least two problems to merge.", messages.WARNING)
            return
        keep = services.merge_problems(problems[0], problems[1:])
        self.message_user(
            request, f"Merged {len(problems) - 1} problem(s) into “{keep}”.", messages.SUCCESS
        )

    @admin.action(description="Export selected problems to JSON")
    def export_json(self, request: HttpRequest, queryset: QuerySet[Problem]) -> HttpResponse:
        data = backup.export_knowledge(queryset)
        response = HttpResponse(
            json.dumps(data, indent=2, cls=DjangoJSONEncoder), content_type="application/json"
        )
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="knowledge-{stamp}.json"'
        return response

    @admin.action(description="Mark selected problems resolved")
    def mark_resolved(self, request: HttpRequest, queryset: QuerySet[Problem]) -> None:
        changed = services.set_problem_status(queryset, ProblemStatus.RESOLVED)
        self.message_user(request, f"{changed} problem(s) marked resolved.", messages.SUCCESS)

    @admin.action(description="Mark selected problems ignored")
    def mark_ignored(self, request: HttpRequest, queryset: QuerySet[Problem]) -> None:
        changed = services.set_problem_status(queryset, ProblemStatus.IGNORED)
        self.message_user(request, f"{changed} problem(s) marked ignored.", messages.SUCCESS)


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
        return format_html(
            "<code>{}</code>", json.dumps(obj.snapshot, sort_keys=True, cls=DjangoJSONEncoder)
        )

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


@admin.register(Diagnosis)
class DiagnosisAdmin(admin.ModelAdmin):
    """What the diagnostic agent concluded, with its evidence; curators may dismiss one."""

    list_display = (
        "created_at", "problem", "service", "signal", "confidence", "event_count", "status",
    )  # fmt: skip
    list_filter = ("status", "signal", "service")
    search_fields = ("root_cause", "signal", "problem__title", "problem__fingerprint")
    date_hierarchy = "created_at"
    list_select_related = ("problem",)
    readonly_fields = (
        "problem", "service", "instance", "trigger_event_id", "trigger_type", "root_cause",
        "signal", "confidence", "hypotheses", "evidence", "suggestions", "event_count",
        "created_at", "last_seen",
    )  # fmt: skip

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Recommendation)
class RecommendationAdmin(admin.ModelAdmin):
    """Values learned from traffic (e.g. the import batch size RetryWithSmallerBatch uses)."""

    list_display = ("key", "value", "confidence", "updated_at")
    search_fields = ("key",)
    readonly_fields = ("evidence", "updated_at")
