"""Start the whole system (web, Celery worker and beat, ...) until Ctrl-C; `make run` calls it.

The Procfile's processes (and the embedded Redis and PostgreSQL) run under supervisord, which
restarts whichever crashes; see ``aiops_site/supervision.py``.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from agents.heartbeats import mark_started
from aiops_site import embedded, supervision
from aiops_site.stack import (
    AlreadyRunning,
    child_environment,
    ensure_first_admin,
    process_table,
    reset_prometheus_dir,
    run_lock,
)
from core.redis import get_redis

# Idempotent seeds: they add what is missing and keep curators' edits.
SEED_COMMANDS: dict[str, dict[str, Any]] = {
    "seed_knowledge": {"no_progress": True},
    "seed_rules": {},
}


class Command(BaseCommand):
    help = "Migrate, create the first admin, and run every process of AI-Ops Core until Ctrl-C."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=settings.PORT)
        parser.add_argument(
            "--only", nargs="*", default=None, help="Run only these Procfile processes."
        )

    def handle(self, *args: Any, host: str, port: int, only: list[str] | None, **opts: Any) -> None:
        try:
            with run_lock(settings.VAR_DIR):
                returncode = self._run(host, port, only)
        except AlreadyRunning as exc:
            raise CommandError(str(exc)) from None
        sys.exit(returncode)

    def _run(self, host: str, port: int, only: list[str] | None) -> int:
        # skip_checks=False: call_command skips system checks by default, and the stack must
        # refuse to start on a failing one (an evicting Redis, a missing schema).
        call_command("migrate", interactive=False, verbosity=0, skip_checks=False)
        for seed, options in SEED_COMMANDS.items():
            call_command(seed, verbosity=0, **options)
        mark_started()  # /health ignores the previous run's heartbeats from now on
        self._announce_admin()
        processes = process_table()
        if only:
            processes = {name: processes[name] for name in only}
        reset_prometheus_dir()
        env = child_environment(host, port)
        connections.close_all()  # children must not inherit our sockets
        cwd = str(settings.BASE_DIR)
        programs = supervision.program_commands(processes, env)
        users: dict[str, str] = {}
        if not os.environ.get("REDIS_URL"):
            # Hand the embedded Redis over to the supervisor: restarted on its port if it dies.
            get_redis().connection_pool.disconnect()
            embedded.stop_redis(settings.VAR_DIR)
            programs = {"redis": embedded.redis_foreground_argv(settings.VAR_DIR), **programs}
        if not os.environ.get("DATABASE_URL"):
            # The embedded PostgreSQL too: restarted on the same socket if it dies.
            argv = embedded.postgres_foreground_argv(settings.VAR_DIR)
            embedded.stop_postgres(settings.VAR_DIR)
            programs = {"postgres": argv, **programs}
            if user := embedded.postgres_system_user():
                users["postgres"] = user
        config = supervision.write_config(settings.VAR_DIR, programs, cwd, users)
        base = f"http://{host}:{port}"
        self.stdout.write(
            self.style.SUCCESS(f"AI-Ops Core is starting on {base}/")
            + f"\n  admin:     {base}/admin/\n  health:    {base}/health"
            + f"\n  logs:      {settings.VAR_DIR / 'log'}/<process>.log"
            + f" (LOG_LEVEL={settings.LOG_LEVEL})"
            + f"\n  processes: supervisorctl -c {config} status"
            + "\nIncidents and approvals will be listed here as they happen; Ctrl-C stops."
        )
        self.stdout.flush()
        try:
            returncode = supervision.run_supervisor(config, env, cwd)
        finally:
            self._stop_embedded()
        return returncode

    def _announce_admin(self) -> None:
        created = ensure_first_admin()
        if created is None:
            return
        if created.password is None:
            self.stdout.write(f"Created admin user {created.username!r} (password from env).")
        else:
            self.stdout.write(
                self.style.WARNING(
                    f"Created admin user {created.username!r} with password "
                    f"{created.password!r} — shown once; change it in the admin."
                )
            )

    def _stop_embedded(self) -> None:
        if os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL"):
            return
        stopped = embedded.stop_servers(settings.VAR_DIR)
        if stopped:
            self.stdout.write(f"Stopped embedded {', '.join(stopped)}.")
