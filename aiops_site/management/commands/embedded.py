"""Inspect or stop the embedded PostgreSQL and Redis under AIOPS_VAR_DIR."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from aiops_site import embedded


class Command(BaseCommand):
    help = "Show the embedded servers' URLs (status) or stop them (stop)."
    # The checks reach Redis and PostgreSQL; this command must work (and start nothing)
    # whether they run or not. The settings start nothing for it either (see
    # ``embedded.inspects_only``).
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("action", choices=["status", "stop"])

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "stop":
            stopped = embedded.stop_servers(settings.VAR_DIR)
            self.stdout.write(f"stopped: {', '.join(stopped) or 'nothing was running'}")
            return
        running = embedded.running_servers(settings.VAR_DIR)
        not_running = embedded.NOT_RUNNING
        database = running.database_url if running.database_url != not_running.database_url else ""
        redis_url = running.redis_url if running.redis_url != not_running.redis_url else ""
        self.stdout.write(f"var dir:    {settings.VAR_DIR}")
        self.stdout.write(f"postgresql: {database or 'not running'}")
        self.stdout.write(f"redis:      {redis_url or 'not running'}")
