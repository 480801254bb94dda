"""Inspect or stop the embedded PostgreSQL and Redis under AIOPS_VAR_DIR."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from aiops_site import embedded


class Command(BaseCommand):
    help = "Show the embedded servers' URLs (status) or stop them (stop)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("action", choices=["status", "stop"])

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "stop":
            stopped = embedded.stop_servers(settings.VAR_DIR)
            self.stdout.write(f"stopped: {', '.join(stopped) or 'nothing was running'}")
            return
        self.stdout.write(f"var dir:      {settings.VAR_DIR}")
        self.stdout.write(f"DATABASE_URL: {settings.DATABASE_URL}")
        self.stdout.write(f"REDIS_URL:    {settings.REDIS_URL}")
