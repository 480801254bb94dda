from __future__ import annotations

from django.apps import AppConfig


class AiopsSiteConfig(AppConfig):
    """The project itself as an app: site-wide commands (run_stack, embedded) and checks."""

    name = "aiops_site"
    verbose_name = "AI-Ops Core"

    def ready(self) -> None:
        from aiops_site import checks  # noqa: F401  (registers the system checks)
