"""Run fault scenarios end to end through the real stack and print the scorecard."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from agents.models import ApiToken
from aiops_site.stack import BackgroundStack
from remediation.models import Rule
from simulator import novel_scenarios, novel_scorecard, scenarios
from simulator.deployment import SERVICES
from simulator.runner import Simulator, SimulatorConfig
from simulator.scorecard import Scorecard, ScorecardConfig, format_table

STACK_PROCESSES = ["web", "worker", "beat"]


class Command(BaseCommand):
    help = (
        "Inject fault scenarios into the simulated bookmark manager while web, worker and beat "
        "run, and score detection, diagnosis, remediation and recovery against ground truth "
        "(also with agents disabled, for the reduction in human interventions)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--quick",
            action="store_true",
            help=f"A few minutes: {', '.join(scenarios.QUICK)}; approvals are left pending.",
        )
        parser.add_argument(
            "--novel",
            action="store_true",
            help="The novel faults (simulator/novel_scenarios.py) instead: no approvals, no "
            "baseline; scored on honest diagnosis, wrong confident ones and runs started.",
        )
        parser.add_argument(
            "--scenarios", nargs="*", choices=sorted([*scenarios.SCENARIOS, *novel_scenarios.NOVEL])
        )
        parser.add_argument("--fault-seconds", type=float, default=None)
        parser.add_argument("--healthy-seconds", type=float, default=None)
        parser.add_argument("--warmup", type=float, default=None, help="Healthy traffic first.")
        parser.add_argument(
            "--verify-after",
            type=int,
            default=None,
            help="Use this verification window (s) for every rule during the run (restored "
            "after); keep it above 60 s, the window of the control API's signal counts.",
        )
        parser.add_argument("--no-baseline", action="store_true", help="Skip agents-disabled.")
        parser.add_argument("--rate", type=float, default=20.0)
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--json", dest="json_path", help="Also write the report here.")
        parser.add_argument("--format", choices=["table", "json"], default="table")

    def handle(self, *args: Any, **opts: Any) -> None:
        quick, novel = opts["quick"], opts["novel"]
        default = novel_scenarios.NOVEL_ORDER if novel else (scenarios.QUICK if quick else None)
        names = opts["scenarios"] or list(default or _full_order())
        config = ScorecardConfig(
            scenarios=names,
            fault_seconds=opts["fault_seconds"]
            or (60.0 if quick else novel_scorecard.FAULT_SECONDS if novel else 150.0),
            healthy_seconds=opts["healthy_seconds"] or (30.0 if quick else 300.0),
            settle_seconds=5.0 if quick else novel_scorecard.SETTLE_SECONDS if novel else 15.0,
            approve_after=None if quick or novel else 5.0,
            wait_for_verification=not quick,
            baseline=not (opts["no_baseline"] or novel),
            baseline_fault_seconds=10.0 if quick else 30.0,
            label=f"scorecard-{int(time.time())}",
        )
        warmup = opts["warmup"] if opts["warmup"] is not None else (15.0 if quick else 60.0)
        call_command("migrate", interactive=False, verbosity=0)
        call_command("seed_knowledge", verbosity=0, no_progress=True)
        call_command("seed_rules", verbosity=0)
        report = self._run(config, warmup, opts, novel=novel)
        path = Path(
            opts["json_path"] or Path(settings.VAR_DIR) / "scorecard" / f"{config.label}.json"
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2, default=str))
        if opts["format"] == "json":
            self.stdout.write(json.dumps(report, indent=2, default=str))
        else:
            table = novel_scorecard.format_table if novel else format_table
            self.stdout.write(table(report))
            self.stdout.write(f"\nReport: {path}")

    def _run(
        self, config: ScorecardConfig, warmup: float, opts: dict[str, Any], *, novel: bool
    ) -> dict[str, Any]:
        port = _free_port()
        stack = BackgroundStack(
            STACK_PROCESSES, host="127.0.0.1", port=port,
            log_dir=Path(settings.VAR_DIR) / "scorecard" / "logs",
        )  # fmt: skip
        main, *others = SERVICES
        token, plaintext = ApiToken.issue(config.label, main, also_services=others)
        simulator = None
        try:
            with _verify_window(opts["verify_after"]):
                stack.start()
                stack.wait_until_healthy()
                simulator = Simulator(
                    SimulatorConfig(
                        url=stack.url, token=plaintext, rate=opts["rate"], seed=opts["seed"]
                    )  # fmt: skip
                ).start()
                time.sleep(warmup)
                steps = len(config.scenarios) * (2 if config.baseline else 1)
                with tqdm(total=steps, desc="scorecard", unit="scenario") as bar:

                    def progress(finished: str) -> None:
                        bar.set_postfix_str(finished)
                        bar.update(1)

                    scorecard = Scorecard(simulator, config, progress=progress)
                    if novel:
                        return novel_scorecard.run_novel(scorecard, config.scenarios)
                    return scorecard.run()
        except (TimeoutError, RuntimeError) as exc:
            raise CommandError(str(exc)) from None
        finally:
            if simulator is not None:
                simulator.stop()
            stack.stop()
            token.revoke()


def _full_order() -> list[str]:
    """Healthy first (the false-alarm count wants an undisturbed baseline), then each fault."""
    return ["healthy", *(n for n in scenarios.SCENARIOS if n != "healthy")]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def _verify_window(seconds: int | None) -> Iterator[None]:
    if seconds is None:
        yield
        return
    if seconds <= 60:
        raise CommandError("--verify-after must be above 60 s (the control API counts a minute)")
    saved = dict(Rule.objects.values_list("pk", "verify_after_seconds"))
    Rule.objects.update(verify_after_seconds=seconds)
    try:
        yield
    finally:
        for pk, value in saved.items():
            Rule.objects.filter(pk=pk).update(verify_after_seconds=value)
