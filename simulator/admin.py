from __future__ import annotations

from django.contrib import admin

from core.humane import ago_column
from simulator.models import FaultInjection


@admin.register(FaultInjection)
class FaultInjectionAdmin(admin.ModelAdmin):
    list_display = (
        "scenario", "root_cause", "service", "correct_remediation", ago_column("started_at"),
        ago_column("recovered_at"), "fixed_by", "run_label",
    )  # fmt: skip
    list_filter = ("scenario", "fixed_by", "run_label")
    readonly_fields = [f.name for f in FaultInjection._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False  # ground truth is written by the simulator only
