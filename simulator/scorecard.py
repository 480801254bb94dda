"""The scenario scorecard: inject faults into the simulated bookmark manager while the real
stack watches, and score what the agents did against the ground truth.

What is measured, per scenario (windows are wall-clock, one scenario at a time):

* **detected** — an Anomaly or a Diagnosis appeared (or an open Diagnosis was reinforced)
  after the injection; time to detect is from the injection to the first of them.
* **diagnosed** — the most confident Diagnosis opened in the window (else the most
  confident one it reinforced) names the true root cause (its ``signal``).
* **remediated** — a remediation run executed the correct action automatically, or waits
  for (or got) a human approval for a risky one; **recovered** — the simulator saw the root
  cause gone (time to recovery from the injection).
* **human interventions** — each approval a human gave, plus each fault still present at
  the end of its window (on-call then fixes it by hand).
* **false alarms** — Anomalies and Diagnoses raised during healthy periods.

The baseline runs the same faults with every agent disabled and counts the interventions the
same way, so "fewer manual interventions" is a measurement.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import close_old_connections
from django.utils import timezone

from agents.models import Agent, Anomaly
from knowledge.models import Diagnosis
from remediation import engine
from remediation.models import RemediationRun, RunStatus
from simulator import scenarios
from simulator.models import FaultInjection
from simulator.runner import Simulator

OPERATOR_USERNAME = "scorecard-operator"
FINISHED = {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.ROLLED_BACK, RunStatus.ESCALATED}
EXECUTED = FINISHED | {RunStatus.RUNNING, RunStatus.VERIFYING}
POLL_SECONDS = 0.5

#: The plan's targets, as printed beside the figures.
TARGETS = {
    "detection_rate": (">=", 0.99),
    "detect_p99_seconds": ("<", 10.0),
    "false_alarms_per_healthy_hour": ("<", 1.0),
    "diagnosis_accuracy": (">=", 0.90),
    "remediation_success_rate": (">=", 0.95),
    "intervention_reduction": (">=", 0.50),
}


@dataclass
class ScenarioResult:
    scenario: str
    root_cause: str
    agents: bool
    started_at: str
    detected: bool = False
    detect_seconds: float | None = None
    diagnosed_signal: str = ""
    diagnosis_confidence: float | None = None
    diagnosis_correct: bool = False
    runs: list[dict[str, Any]] = field(default_factory=list)
    remediated: bool = False  # the correct action ran (automatically or once approved)
    automatic: bool = False  # ... with nobody approving it
    awaiting_approval: bool = False
    recovered: bool = False
    recovery_seconds: float | None = None
    human_interventions: int = 0
    false_alarms: int = 0
    healthy_seconds: float = 0.0


@dataclass
class ScorecardConfig:
    scenarios: list[str]
    fault_seconds: float = 150.0  # the longest a fault is left to the agents
    healthy_seconds: float = 120.0
    settle_seconds: float = 20.0  # quiet time after a fault, not scored
    approve_after: float | None = 5.0  # None: leave approvals pending (the --quick check)
    wait_for_verification: bool = True
    baseline: bool = True
    baseline_fault_seconds: float = 45.0
    label: str = "scorecard"


class Scorecard:
    def __init__(
        self,
        simulator: Simulator,
        config: ScorecardConfig,
        *,
        progress: Callable[[str], None] = lambda _: None,  # called after each scenario
    ) -> None:
        self.simulator = simulator
        self.config = config
        self.progress = progress
        self.operator = _operator()

    def run(self) -> dict[str, Any]:
        results = [self._scored(name, agents=True) for name in self.config.scenarios]
        baseline: list[ScenarioResult] = []
        faults = [n for n in self.config.scenarios if not scenarios.get(n).healthy]
        if self.config.baseline and faults:
            with agents_disabled():
                baseline = [self._scored(name, agents=False) for name in faults]
        return summarise(results, baseline)

    def _scored(self, name: str, *, agents: bool) -> ScenarioResult:
        result = self.run_scenario(name, agents=agents)
        self.progress(f"{name} ({'agents on' if agents else 'agents off'})")
        return result

    # --- One scenario -----------------------------------------------------------------------

    def run_scenario(self, name: str, *, agents: bool) -> ScenarioResult:
        scenario = scenarios.get(name)
        record = self.simulator.inject(name, label=self.config.label)
        result = ScenarioResult(name, scenario.root_cause, agents, record.started_at.isoformat())
        if scenario.healthy:
            time.sleep(self.config.healthy_seconds)
            result.healthy_seconds = self.config.healthy_seconds
            result.false_alarms = count_alarms(record.started_at, timezone.now())
            self.simulator.end(name)
            return result
        window = self.config.fault_seconds if agents else self.config.baseline_fault_seconds
        deadline = time.monotonic() + window
        approved: set[int] = set()
        while time.monotonic() < deadline:
            close_old_connections()
            self._observe(record, result)
            if agents and self.config.approve_after is not None:
                for run in awaiting(record.started_at):
                    waited = (timezone.now() - run.created_at).total_seconds()
                    if waited >= self.config.approve_after and run.pk not in approved:
                        engine.approve(run, self.operator)
                        approved.add(run.pk)
            if self._done(result):
                break
            time.sleep(POLL_SECONDS)
        self._observe(record, result)
        result.human_interventions = len(approved)
        if not result.recovered:
            self.simulator.fix_by_hand(name)
            result.human_interventions += 1
        self.simulator.end(name)
        time.sleep(self.config.settle_seconds)
        return result

    def _observe(self, record: FaultInjection, result: ScenarioResult) -> None:
        start = record.started_at
        first = first_alarm(start)
        if first is not None and not result.detected:
            result.detected = True
            result.detect_seconds = round((first - start).total_seconds(), 2)
        # Its own diagnosis: opened in the window; else an older one it reinforced.
        seen = Diagnosis.objects.filter(last_seen__gte=start)
        top = (
            seen.filter(created_at__gte=start).order_by("-confidence").first()
            or seen.order_by("-confidence").first()
        )
        if top is not None:
            result.diagnosed_signal = top.signal
            result.diagnosis_confidence = top.confidence
            result.diagnosis_correct = top.signal == result.root_cause
        runs = list(
            RemediationRun.objects.filter(created_at__gte=start)
            .prefetch_related("approvals")
            .order_by("created_at")
        )
        correct = [r for r in runs if r.action == record.correct_remediation]
        result.runs = [
            {"id": r.pk, "action": r.action, "signal": r.signal, "status": r.status,
             "approvals": len(r.approvals.all()), "confidence": r.confidence}
            for r in runs
        ]  # fmt: skip
        result.remediated = any(r.status in EXECUTED for r in correct)
        result.automatic = any(r.status in EXECUTED and not r.approvals.all() for r in correct)
        result.awaiting_approval = any(r.status == RunStatus.AWAITING_APPROVAL for r in correct)
        record.refresh_from_db(fields=["recovered_at", "fixed_by"])
        if record.recovered_at is not None and record.fixed_by == "control-api":
            result.recovered = True
            result.recovery_seconds = round((record.recovered_at - start).total_seconds(), 2)

    def _done(self, result: ScenarioResult) -> bool:
        if not result.recovered:
            # Without approvals (the quick check) a pending risky run is as far as it goes.
            return self.config.approve_after is None and result.awaiting_approval
        if not self.config.wait_for_verification:
            return True
        return all(run["status"] in FINISHED for run in result.runs)


# --- Queries --------------------------------------------------------------------------------


def first_alarm(since: datetime) -> datetime | None:
    """The first anomaly or diagnosis since ``since``. A diagnosis still open from before
    that the fault reinforced counts from its ``last_seen``: polled every half second, the
    first look at it is within that of the first reinforcement."""
    times = [
        Anomaly.objects.filter(detected_at__gte=since).order_by("detected_at")
        .values_list("detected_at", flat=True).first(),
        Diagnosis.objects.filter(created_at__gte=since).order_by("created_at")
        .values_list("created_at", flat=True).first(),
        Diagnosis.objects.filter(created_at__lt=since, last_seen__gte=since)
        .order_by("last_seen").values_list("last_seen", flat=True).first(),
    ]  # fmt: skip
    found = [t for t in times if t is not None]
    return min(found) if found else None


def count_alarms(start: datetime, end: datetime) -> int:
    """Alerts an operator would have seen: anomalies, and diagnoses not opened by one."""
    anomalies = Anomaly.objects.filter(detected_at__gte=start, detected_at__lt=end).count()
    diagnoses = (
        Diagnosis.objects.filter(created_at__gte=start, created_at__lt=end)
        .exclude(trigger_type="anomaly.detected")
        .count()
    )
    return anomalies + diagnoses


def awaiting(since: datetime) -> Iterable[RemediationRun]:
    return RemediationRun.objects.filter(
        created_at__gte=since, status=RunStatus.AWAITING_APPROVAL
    ).order_by("created_at")


def _operator() -> Any:
    """The scripted on-call engineer who clicks Approve (an operator, no password)."""
    user, created = get_user_model().objects.get_or_create(username=OPERATOR_USERNAME)
    if created:
        user.set_unusable_password()
        user.save()
    group = Group.objects.filter(name="operator").first()
    if group is not None:
        user.groups.add(group)
    return get_user_model().objects.get(pk=user.pk)  # a fresh permission cache


class agents_disabled:  # noqa: N801  (a context manager used like a function)
    """Switch every agent off (the runners check their switch every couple of seconds)."""

    def __enter__(self) -> None:
        self.were_enabled = list(Agent.objects.filter(enabled=True).values_list("pk", flat=True))
        Agent.objects.filter(pk__in=self.were_enabled).update(enabled=False)
        time.sleep(5)

    def __exit__(self, *exc: object) -> None:
        Agent.objects.filter(pk__in=self.were_enabled).update(enabled=True)


# --- Summary --------------------------------------------------------------------------------


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def summarise(results: list[ScenarioResult], baseline: list[ScenarioResult]) -> dict[str, Any]:
    faults = [r for r in results if r.root_cause]
    healthy = [r for r in results if not r.root_cause]
    detect = [r.detect_seconds for r in faults if r.detect_seconds is not None]
    recovery = [r.recovery_seconds for r in faults if r.recovery_seconds is not None]
    runs = [run for r in faults for run in r.runs]
    finished = [run for run in runs if run["status"] in FINISHED]
    healthy_hours = sum(r.healthy_seconds for r in healthy) / 3600
    with_agents = sum(r.human_interventions for r in faults)
    without = sum(r.human_interventions for r in baseline)
    metrics = {
        "faults": len(faults),
        "detection_rate": _ratio(sum(r.detected for r in faults), len(faults)),
        "detect_p50_seconds": _percentile(detect, 0.5),
        "detect_p99_seconds": _percentile(detect, 0.99),
        "false_alarms": sum(r.false_alarms for r in healthy),
        "healthy_hours": round(healthy_hours, 3),
        "false_alarms_per_healthy_hour": (
            round(sum(r.false_alarms for r in healthy) / healthy_hours, 2)
            if healthy_hours
            else None
        ),
        "diagnosis_accuracy": _ratio(sum(r.diagnosis_correct for r in faults), len(faults)),
        "remediated_automatically": sum(r.automatic for r in faults),
        "remediated_after_approval": sum(r.remediated and not r.automatic for r in faults),
        "awaiting_approval": sum(r.awaiting_approval and not r.remediated for r in faults),
        "remediation_runs": len(runs),
        "remediation_success_rate": _ratio(
            sum(run["status"] == RunStatus.SUCCEEDED for run in finished), len(finished)
        ),
        "recovered": sum(r.recovered for r in faults),
        "recovery_p50_seconds": _percentile(recovery, 0.5),
        "recovery_mean_seconds": round(statistics.fmean(recovery), 2) if recovery else None,
        "human_interventions": with_agents,
        "human_interventions_agents_disabled": without if baseline else None,
        "intervention_reduction": (
            round(1 - with_agents / without, 3) if baseline and without else None
        ),
    }
    return {
        "metrics": metrics,
        "targets": {
            name: {"op": op, "target": value, "met": _met(metrics.get(name), op, value)}
            for name, (op, value) in TARGETS.items()
        },  # fmt: skip
        "scenarios": [asdict(r) for r in results],
        "baseline": [asdict(r) for r in baseline],
    }


def _met(value: float | None, op: str, target: float) -> bool | None:
    if value is None:
        return None
    return value >= target if op == ">=" else value < target


def format_table(report: dict[str, Any]) -> str:
    """The scorecard as plain text: one line per scenario, then the metrics and targets."""
    lines = [
        f"{'scenario':<22} {'agents':<6} {'detect s':>8} {'diagnosed':<22} {'ok':<3} "
        f"{'remediation':<26} {'recover s':>9} {'humans':>6}"
    ]
    for row in report["scenarios"] + report["baseline"]:
        if not row["root_cause"]:
            lines.append(f"{row['scenario']:<22} {'on':<6} false alarms: {row['false_alarms']} "
                         f"in {row['healthy_seconds']:.0f}s")  # fmt: skip
            continue
        runs = ", ".join(f"{r['action']}:{r['status']}" for r in row["runs"][:2]) or "-"
        lines.append(
            f"{row['scenario']:<22} {'on' if row['agents'] else 'off':<6} "
            f"{_fmt(row['detect_seconds']):>8} {row['diagnosed_signal'] or '-':<22} "
            f"{'yes' if row['diagnosis_correct'] else 'no':<3} {runs[:26]:<26} "
            f"{_fmt(row['recovery_seconds']):>9} {row['human_interventions']:>6}"
        )
    lines.append("")
    for name, value in report["metrics"].items():
        target = report["targets"].get(name)
        verdict = ""
        if target is not None:
            met = {True: "met", False: "NOT met", None: "n/a"}[target["met"]]
            verdict = f"   (target {target['op']} {target['target']}: {met})"
        lines.append(f"{name:<38} {_fmt(value)}{verdict}")
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)
