from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class DashboardConfig(AppConfig):
    name = "dashboard"
    verbose_name = "Operator dashboard"

    def ready(self) -> None:
        from dashboard.roles import attach_permissions

        # The approve permission belongs to remediation, which may migrate after this app:
        # attach it to the groups whenever any app finishes migrating.
        post_migrate.connect(attach_permissions, dispatch_uid="dashboard-attach-permissions")
