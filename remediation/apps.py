from __future__ import annotations

from django.apps import AppConfig


class RemediationConfig(AppConfig):
    name = "remediation"

    def ready(self) -> None:
        # Approval prompts follow their incident (a receiver of incident_changed).
        # Incident opened / resolved notifications (a receiver of incident_changed).
        from remediation import notify  # noqa: F401
        from remediation.engine import superseding  # noqa: F401
