"""Admin: rules and the global switches editable; runs decided through the engine (admin
actions); the audit log read-only with a JSON-lines export."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from core.humane import ago_column, percent_column, words_column
from core.plain_data import ReadableJSONAdmin
from knowledge.admin import readable
from knowledge.admin.graph import PROBLEM_LINKS
from knowledge.admin.incidents import actor_label
from knowledge.admin.solutions import SolutionAdmin
from knowledge.models import Solution
from remediation import engine, safety
from remediation.actions import action_title, registered_actions
from remediation.audit import canonical_json
from remediation.models import (
    Approval,
    AuditEntry,
    RemediationRun,
    RemediationSettings,
    Rule,
    RunAttempt,
    RunTransition,
    kind_words,
)


@admin.display(description="action", ordering="action")
def action_name(obj: Any) -> str:
    """An action by its title ("Restart service"), as the dashboard names it; the code it is
    stored as is in the rule's form and the filters."""
    return action_title(obj.action)


class WordsFilter(admin.SimpleListFilter):
    """A filter on a code field whose choices are the codes in use, each said in words
    (``words``); the query string keeps the code."""

    words: Any = staticmethod(str)

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        used = model_admin.get_queryset(request).values_list(self.parameter_name, flat=True)
        return sorted(((c, self.words(c)) for c in used.distinct()), key=lambda c: c[1])

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(**{self.parameter_name: self.value()}) if self.value() else queryset


class ActionFilter(WordsFilter):
    """Runs by action, each named by its title."""

    title = parameter_name = "action"
    words = staticmethod(action_title)


class KindFilter(WordsFilter):
    """Audit entries by what happened ("Run auto approved", not ``run.auto_approved``)."""

    title, parameter_name = "what happened", "kind"
    words = staticmethod(kind_words)


class ActionTitledSolutionAdmin(SolutionAdmin):
    """The knowledge graph's solutions, their actions named by title. The knowledge layer
    cannot know the actions (they live here, above it), so this layer completes its admin."""

    list_display = tuple(action_name if f == "action" else f for f in SolutionAdmin.list_display)


admin.site.unregister(Solution)
admin.site.register(Solution, ActionTitledSolutionAdmin)


@admin.register(RemediationSettings)
class RemediationSettingsAdmin(admin.ModelAdmin):
    list_display = ["autonomy_mode", "kill_switch", "dry_run", ago_column("updated_at")]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not RemediationSettings.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        safety.forget_settings()
        from remediation import audit

        audit.record(
            "settings.changed", actor=request.user, autonomy_mode=obj.autonomy_mode,
            kill_switch=obj.kill_switch, dry_run=obj.dry_run,
        )  # fmt: skip


def _action_choices() -> list[tuple[str, str]]:
    return sorted(
        ((name, f"{cls.title or name} ({name})") for name, cls in registered_actions().items()),
        key=lambda choice: choice[1],
    )


class RuleForm(forms.ModelForm):
    """The action is picked from the registered ones; the model's ``clean`` checks the rest
    (a criterion, parameters the action accepts, commands and webhooks on their allow-lists)."""

    action = forms.ChoiceField(
        choices=_action_choices,
        help_text="Command runs an allow-listed command (REMEDIATION_COMMANDS); "
        "http_webhook calls an allow-listed webhook (REMEDIATION_WEBHOOKS).",
    )

    class Meta:
        model = Rule
        fields = [
            "name", "description", "enabled", "service", "cause_class", "exception_type",
            "signal", "instances", "action", "parameters", "risk", "requires_approval",
            "dry_run", "confidence_threshold", "verify_after_seconds", "max_runs",
            "window_seconds", "cooldown_seconds", "problem_fingerprint", "category",
            "pattern_name", "threshold_min", "threshold_max", "threshold_step", "circuit_open",
        ]  # fmt: skip
        help_texts = {
            "parameters": 'For a command: {"command": "restart_web", "args": [], '
            '"rollback_command": ""}. For a webhook: {"webhook": "ci_rollback", "body": {}, '
            '"rollback_webhook": ""}.',
            "service": "The service the rule acts for (as the SDK names it). Empty: any.",
            "signal": "A named signal (the curated catalogue's, e.g. import_timeout). "
            "For your own app, the cause class and exception type above are enough.",
            "confidence_threshold": "The diagnosis must be at least this confident "
            "(0 to 1; 0.6 is a reasonable start for a cause class).",
            "verify_after_seconds": "How long after the action the incident's symptom is "
            "watched before deciding whether the fix worked.",
        }


@admin.register(Rule)
class RuleAdmin(ReadableJSONAdmin):
    form = RuleForm
    line_fields = ("instances",)  # instance names; parameters stay JSON (their shape varies)
    list_display = [
        "name", "enabled", "service", "cause_class", "exception_type", words_column("signal"),
        action_name,
        "risk", "requires_approval", "effective_threshold", "circuit_open",
    ]  # fmt: skip
    list_filter = ["enabled", "cause_class", "risk", "requires_approval", "circuit_open"]
    search_fields = ["name", "service", "exception_type", "signal", "problem_fingerprint", "action"]
    readonly_fields = [
        "effective_threshold", "consecutive_failures", "circuit_opened_at", "created_at",
        "updated_at",
    ]  # fmt: skip
    fieldsets = [
        (None, {"fields": ["name", "description", "enabled"]}),
        (
            "What it matches (every field you fill must hold)",
            {"fields": ["service", "cause_class", "exception_type", "signal", "instances"]},
        ),
        ("What it does", {"fields": ["action", "parameters"]}),
        (
            "Safety",
            {
                "description": "Risk is the higher of this and the action's own. A run that "
                "needs approval waits in Pending approvals with its dry-run preview. After "
                "it runs, the symptom is watched for verify-after seconds; if it persists, "
                "the action's rollback (when the parameters name one) runs and a human is "
                "called.",
                "fields": [
                    "risk", "requires_approval", "dry_run", "confidence_threshold",
                    "verify_after_seconds", "max_runs", "window_seconds", "cooldown_seconds",
                ],
            },
        ),
        (
            "Advanced matching and learning",
            {
                "classes": ["collapse"],
                "fields": [
                    "problem_fingerprint", "category", "pattern_name", "effective_threshold",
                    "threshold_min", "threshold_max", "threshold_step", "circuit_open",
                    "consecutive_failures", "circuit_opened_at", "created_at", "updated_at",
                ],
            },
        ),
    ]  # fmt: skip
    actions = ["close_circuits"]

    def save_model(self, request: HttpRequest, obj: Rule, form: Any, change: bool) -> None:
        """An operator's new threshold takes effect at once; every edit is audited."""
        from remediation import audit

        changed = list(form.changed_data)
        if change and "confidence_threshold" in changed:
            obj.effective_threshold = obj.confidence_threshold
        super().save_model(request, obj, form, change)
        values = {name: form.cleaned_data.get(name) for name in changed}
        audit.record("rule.changed", rule=obj, actor=request.user, created=not change, **values)

    @admin.action(description="Close the circuit of the selected rules")
    def close_circuits(self, request: HttpRequest, queryset: QuerySet[Rule]) -> None:
        closed = sum(
            safety.close_circuit(r.pk, actor=request.user, reason="operator") for r in queryset
        )
        self.message_user(request, f"Closed {closed} circuit(s).")


class TransitionInline(admin.TabularInline):
    model = RunTransition
    extra = 0
    can_delete = False
    readonly_fields = ["from_status", "to_status", "at", actor_label, "reason"]
    exclude = ["actor", "actor_label"]  # "by" is shown read-only above

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ApprovalInline(TransitionInline):
    model = Approval
    readonly_fields = ["user", "decision", "reason", "at"]
    exclude = []


class AttemptInline(TransitionInline):
    model = RunAttempt
    readonly_fields = ["number", "worker", "started_at", "finished_at", "outcome", "detail"]
    exclude = []


# A run's fields shown in words in their stored value's place: the action by its title, the
# confidence and threshold as percents (the list and the dashboard say "87%").
RUN_SHOWN_AS = {
    "action": action_name,
    "confidence": percent_column("confidence"),
    "threshold": percent_column("threshold"),
}


@admin.register(RemediationRun)
class RemediationRunAdmin(ReadableJSONAdmin):
    list_display = ["id", action_name, "service", words_column("signal"), "risk",
                    percent_column("confidence"), "status", ago_column("created_at")]  # fmt: skip
    list_filter = ["status", "risk", ActionFilter]
    search_fields = ["service", "signal", "action"]
    inlines = [TransitionInline, ApprovalInline, AttemptInline]
    actions = ["approve_runs", "reject_runs"]

    # Runs change only through the engine (state machine, audit), never by form. Some fields
    # are shown in words in their stored value's place (RUN_SHOWN_AS).
    readonly_fields = [RUN_SHOWN_AS.get(f.name, f.name) for f in RemediationRun._meta.fields]
    exclude = list(RUN_SHOWN_AS)
    data_links = PROBLEM_LINKS  # its evidence is its diagnosis' evidence
    data_renderers = {"evidence": readable.evidence}

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def _decide(self, request: HttpRequest, queryset: QuerySet, decide: Any) -> None:
        done = 0
        for run in queryset:
            try:
                decide(run)
                done += 1
            except (engine.ApprovalError, PermissionDenied) as exc:
                self.message_user(request, f"run {run.pk}: {exc}", messages.WARNING)
        self.message_user(request, f"{done} run(s) decided.")

    @admin.action(description="Approve the selected runs")
    def approve_runs(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._decide(request, queryset, lambda run: engine.approve(run, request.user))

    @admin.action(description="Reject the selected runs")
    def reject_runs(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._decide(request, queryset, lambda run: engine.reject(run, request.user, "admin"))


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadableJSONAdmin):
    list_display = ["id", ago_column("at"), "kind_label", "run_id", "rule_id", "actor"]
    list_filter = [KindFilter]
    search_fields = ["kind", "actor", "run_id"]
    actions = ["export_jsonl"]

    # Shown readably; the export below stays the exact, hashed record.
    readonly_fields = [f.name for f in AuditEntry._meta.fields]
    data_links = {
        "solution": "admin:knowledge_solution_change",
        "diagnosis": "admin:knowledge_diagnosis_change",
    }

    @admin.display(description="what happened", ordering="kind")
    def kind_label(self, entry: AuditEntry) -> str:
        return entry.kind_label

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Export the selected entries (JSON lines, with hashes)")
    def export_jsonl(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        lines = (
            canonical_json({"id": e.pk, **e.content(), "prev_hash": e.prev_hash, "hash": e.hash})
            for e in queryset.order_by("id")
        )
        response = HttpResponse("\n".join(lines) + "\n", content_type="application/x-ndjson")
        response["Content-Disposition"] = 'attachment; filename="remediation-audit.jsonl"'
        return response
