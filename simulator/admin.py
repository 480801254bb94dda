from __future__ import annotations

from django.contrib import admin

from core.humane import ago_column
from remediation.actions import action_title
from simulator.models import FaultInjection


@admin.register(FaultInjection)
class FaultInjectionAdmin(admin.ModelAdmin):
    list_display = (
        "scenario", "root_cause", "service", "remediation", ago_column("started_at"),
        ago_column("recovered_at"), "fixed_by", "run_label",
    )  # fmt: skip
    list_filter = ("scenario", "fixed_by", "run_label")
    # The correct remediation by its title, in the stored code's place.
    readonly_fields = [
        "remediation" if f.name == "correct_remediation" else f.name
        for f in FaultInjection._meta.fields
    ]
    exclude = ["correct_remediation"]

    @admin.display(description="correct remediation", ordering="correct_remediation")
    def remediation(self, fault: FaultInjection) -> str:
        return action_title(fault.correct_remediation) if fault.correct_remediation else "none"

    def has_add_permission(self, request: object) -> bool:
        return False  # ground truth is written by the simulator only
