"""Problems in the admin: occurrences, solutions, similar problems, merges."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from core.humane import ago_column
from core.plain_data import ReadableJSONAdmin
from knowledge import backup, services
from knowledge.admin import readable
from knowledge.admin.panels import (
    OCCURRENCES_SHOWN,
    SIMILAR_SHOWN,
    edges_panel,
    html_table,
    node_link,
)
from knowledge.models import (
    Occurrence,
    Problem,
    ProblemStatus,
    Solution,
)
from knowledge.similarity import similar_problems

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
    fields = ("at", "service", "instance", "count", "last_at", "events")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = f"occurrences (latest {OCCURRENCES_SHOWN} minute buckets)"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="events")
    def events(self, obj: Occurrence) -> SafeString:
        return readable.event_ids(obj.event_ids)


class SolutionInline(admin.TabularInline):
    model = Solution
    fields = ("title", "action", "source", "success_rate")
    readonly_fields = ("success_rate",)
    extra = 0
    show_change_link = True

    @admin.display(description="success rate")
    def success_rate(self, obj: Solution) -> str:
        return obj.success_label if obj.pk else "—"


def merge_messages(selected: list[Problem], merge: services.MergeResult) -> list[str]:
    """Plain sentences for what a merge followed instead of doing as asked: a problem that
    had been merged away before stands for the problem it went into."""
    names = {p.pk: str(p) for p in selected}
    names.update((p.pk, str(p)) for p in Problem.objects.filter(pk__in=merge.redirected.values()))
    keep, texts = merge.keep, []
    for problem in selected:
        into = merge.redirected.get(problem.pk)
        if into is None:
            continue
        if problem is selected[0]:
            texts.append(
                f"Problem “{names[problem.pk]}” was already merged into “{keep}”; "
                f"merged into “{keep}” instead."
            )
        elif into == keep.pk:
            texts.append(
                f"Problem “{names[problem.pk]}” was already merged into “{keep}”; "
                "nothing to do for it."
            )
        else:
            texts.append(
                f"Problem “{names[problem.pk]}” was already merged into “{names[into]}”; "
                f"merged “{names[into]}” into “{keep}” instead."
            )
    return texts


# A module function named like the field: its cells keep the "field-title" class (admin.css).
@admin.display(description="title", ordering="title")
def title(problem: Problem) -> str:
    return str(problem)  # readable: an automatic title is a log template with "<*>"


@admin.register(Problem)
class ProblemAdmin(ReadableJSONAdmin):
    list_display = (
        title,
        "category",
        "severity",
        "status",
        "signal",
        "occurrence_count",
        ago_column("last_seen"),
        "merged_into",
    )
    list_filter = ("category", "severity", "status", ServiceFilter)
    search_fields = ("title", "fingerprint", "log_template", "signal")
    list_select_related = ("merged_into",)
    date_hierarchy = "last_seen"
    exclude = ("embedding",)
    # Example messages and regular expressions (which may hold commas): one a line.
    line_fields = ("error_patterns",)
    readonly_fields = (
        "occurrence_count",
        "first_seen",
        "last_seen",
        "merged_into",
        "embedding_provider",
        "title_source",
        "similar_problems_panel",
        "edges_panel",
    )
    inlines = (SolutionInline, OccurrenceInline)
    actions = ("merge_into_oldest", "export_json", "mark_resolved", "mark_ignored")
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "title",
                    "title_source",
                    "fingerprint",
                    "status",
                    "category",
                    "severity",
                    "signal",
                )
            },
        ),
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

    @admin.display(description="title source")
    def title_source(self, obj: Problem) -> str:
        # Why a curator's edit sticks: a title that is not its template is never replaced.
        if obj.pk is None or not obj.title_is_automatic:
            return "Written by hand: kept as it is."
        return (
            "Automatic: the log template. It becomes more general as the error is seen with "
            "other values; edit the title to keep your own."
        )

    @admin.display(description="similar problems")
    def similar_problems_panel(self, obj: Problem) -> SafeString:
        if obj.pk is None or obj.embedding is None:
            return format_html("<em>{}</em>", "no embedding yet")
        found = similar_problems(obj.embedding, k=SIMILAR_SHOWN, exclude_id=obj.pk)
        rows = [
            (node_link(p.node), f"{score:.3f}", p.get_category_display(), p.get_status_display())
            for p, score in found
        ]
        return html_table(["problem", "score", "category", "status"], rows)

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
        try:
            merge = services.merge_problems(problems[0], problems[1:])
        except services.MergeConflict:
            self.message_user(
                request,
                "These problems were being merged by something else at the same time; "
                "nothing was changed. Reload the list and try again.",
                messages.ERROR,
            )
            return
        for text in merge_messages(problems, merge):
            self.message_user(request, text, messages.WARNING)
        if merge.merged:
            self.message_user(
                request,
                f"Merged {len(merge.merged)} problem(s) into “{merge.keep}”.",
                messages.SUCCESS,
            )
        else:
            self.message_user(
                request,
                f"Nothing was merged: the selected problems are already one problem, "
                f"“{merge.keep}”.",
                messages.INFO,
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
