"""Run the simulated bookmark manager against AI-Ops Core until Ctrl-C (or ``--duration``)."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from agents.ingest.tokens import revoke_token
from agents.models import ApiToken
from simulator import scenarios
from simulator.demo import DemoSchedule
from simulator.deployment import SERVICES
from simulator.runner import Simulator, SimulatorConfig

SIMULATOR_TOKEN_NAME = "make run simulator"  # noqa: S105  (a label, not a secret)


def issue_simulator_token() -> str:
    """A token that speaks for every simulated service; the previous run's is revoked (only
    hashes are stored, so a token cannot be handed over from one run to the next)."""
    for old in ApiToken.objects.filter(name=SIMULATOR_TOKEN_NAME, revoked_at__isnull=True):
        revoke_token(old)
    main, *others = SERVICES
    return ApiToken.issue(SIMULATOR_TOKEN_NAME, main, also_services=others)[1]


class Command(BaseCommand):
    help = (
        "Run the simulated bookmark manager: traffic, imports and a control API, reporting "
        "through the SDK. --scenario injects one fault; --schedule cycles through the demo "
        "faults (what `make run` does)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--url",
            default=os.environ.get("AIOPS_URL", f"http://127.0.0.1:{settings.PORT}"),
            help="AI-Ops Core's base URL (ingest API and service registry).",
        )
        parser.add_argument(
            "--token",
            default=os.environ.get("AIOPS_SIMULATOR_TOKEN", ""),
            help="An API token (default: $AIOPS_SIMULATOR_TOKEN).",
        )
        parser.add_argument(
            "--issue-token",
            action="store_true",
            help="Issue a fresh token for the simulated services, revoking the previous one "
            "(what make run does).",
        )
        parser.add_argument(
            "--redis", action="store_true", help="Publish straight to the mesh (no token)."
        )
        parser.add_argument("--rate", type=float, default=20.0, help="Requests/s at the peak.")
        parser.add_argument("--imports-per-minute", type=float, default=6.0)
        parser.add_argument("--control-port", type=int, default=0, help="0: any free port.")
        parser.add_argument("--seed", type=int, default=None)
        parser.add_argument(
            "--scenario", choices=sorted(scenarios.SCENARIOS), help="Inject this fault."
        )
        parser.add_argument(
            "--after", type=float, default=30.0, help="Seconds of healthy traffic before it."
        )
        parser.add_argument("--schedule", action="store_true", help="Cycle the demo faults.")
        parser.add_argument(
            "--fault-timeout",
            type=float,
            default=180.0,
            help="With --schedule: seconds a fault may last before on-call fixes it by hand.",
        )
        parser.add_argument("--duration", type=float, default=0.0, help="0: until Ctrl-C.")

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["issue_token"]:
            opts["token"] = issue_simulator_token()
        if not opts["redis"] and not opts["token"]:
            raise CommandError(
                "a token is needed to report over HTTP: pass --token (create one with "
                "`manage.py create_token --service bookmarks`) or use --redis"
            )
        config = SimulatorConfig(
            url=opts["url"],
            token=opts["token"] or None,
            redis_direct=opts["redis"],
            rate=opts["rate"],
            imports_per_minute=opts["imports_per_minute"],
            control_port=opts["control_port"],
            seed=opts["seed"],
        )
        simulator = Simulator(config).start()
        self.stdout.write(
            f"Simulated bookmark manager reporting to {config.url}; control API at "
            f"{simulator.control.root_url}/svc/<service>/control/"
        )
        stop = _stop_on_signals()
        deadline = time.monotonic() + opts["duration"] if opts["duration"] else None
        schedule = DemoSchedule(
            simulator, fault_timeout=opts["fault_timeout"], log=self.stdout.write
        )
        injected_at = time.monotonic() + opts["after"] if opts["scenario"] else None
        try:
            while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
                if injected_at is not None and time.monotonic() >= injected_at:
                    simulator.inject(opts["scenario"], label="manual")
                    self.stdout.write(f"Injected {opts['scenario']}.")
                    injected_at = None
                if opts["schedule"]:
                    schedule.step()
                stop.wait(1.0)
        finally:
            simulator.stop()
            self.stdout.write("Simulator stopped.")


def _stop_on_signals() -> Any:
    import threading

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop
