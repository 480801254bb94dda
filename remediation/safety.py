"""Safety: what may run, and whether a human must say yes first.

Checked when a run is proposed (:func:`assess`) and again just before it executes
(:func:`execution_blocker`), because minutes can pass between the two while an approval
waits: the kill switch or a budget may have changed. Budgets count runs in PostgreSQL, so
every worker sees the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.core.cache import cache
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from agents.system_events import CircuitOpened
from remediation import audit, events
from remediation.models import (
    AUTONOMY_CEILING,
    RISK_RANK,
    AutonomyMode,
    RemediationRun,
    RemediationSettings,
    RiskLevel,
    Rule,
    RunStatus,
)

SETTINGS_CACHE_KEY = "remediation:settings"
SETTINGS_CACHE_SECONDS = 5
# Runs that count against budgets: everything that was not refused before executing.
COUNTED = [s for s in RunStatus.values if s not in (RunStatus.REJECTED, RunStatus.EXPIRED)]
EXECUTED = [
    RunStatus.RUNNING,
    RunStatus.VERIFYING,
    RunStatus.SUCCEEDED,
    RunStatus.FAILED,
    RunStatus.ROLLED_BACK,
    RunStatus.ESCALATED,
]


def current_settings() -> RemediationSettings:
    """The singleton, cached for a few seconds (a kill switch takes effect within that)."""
    row = cache.get(SETTINGS_CACHE_KEY)
    if row is None:
        row = RemediationSettings.load()
        cache.set(SETTINGS_CACHE_KEY, row, SETTINGS_CACHE_SECONDS)
    return row


def forget_settings() -> None:
    """Drop the cached row (the admin calls it on save so a kill switch acts at once)."""
    cache.delete(SETTINGS_CACHE_KEY)


@dataclass(frozen=True)
class Assessment:
    """``blocked``: a reason the run must not happen; else whether it needs approval."""

    blocked: str = ""
    needs_approval: bool = True
    why: str = ""


def autonomy_allows(risk: str, mode: str) -> bool:
    ceiling = AUTONOMY_CEILING[mode]
    return ceiling is not None and RISK_RANK[RiskLevel(risk)] <= ceiling


def assess(run: RemediationRun, rule: Rule) -> Assessment:
    """Budgets first (they block), then who must decide (autonomy, rule, circuit)."""
    blocker = budget_blocker(run, rule)
    if blocker:
        return Assessment(blocked=blocker)
    conf = current_settings()
    if rule.circuit_open:
        return Assessment(
            needs_approval=True,
            why="the rule failed repeatedly, so a person decides (circuit breaker open)",
        )
    if rule.requires_approval:
        return Assessment(needs_approval=True, why="the rule requires approval")
    # The reason is shown to operators beside the run: the mode's words, not its code name.
    mode = AutonomyMode(conf.autonomy_mode).label
    if not autonomy_allows(run.risk, conf.autonomy_mode):
        return Assessment(
            needs_approval=True, why=f"{run.risk} risk needs a person (autonomy is “{mode}”)"
        )
    return Assessment(needs_approval=False, why=f"autonomy is “{mode}”")


def budget_blocker(run: RemediationRun, rule: Rule) -> str:
    """Rate limits, cooldowns and blast radius; the reason as text, or empty."""
    now = timezone.now()
    conf = current_settings()
    others = RemediationRun.objects.exclude(pk=run.pk)
    rule_runs = others.filter(rule=rule, status__in=COUNTED)
    in_window = rule_runs.filter(created_at__gte=now - _s(rule.window_seconds))
    if in_window.count() >= rule.max_runs:
        return f"rate limit: {rule.max_runs} runs of rule {rule.name} per {rule.window_seconds}s"
    recent = rule_runs.filter(service=run.service, created_at__gte=now - _s(rule.cooldown_seconds))
    if rule.cooldown_seconds and recent.exists():
        return f"cooldown: {rule.name} ran on {run.service} within {rule.cooldown_seconds}s"
    service_runs = others.filter(service=run.service, status__in=COUNTED)
    service_recent = service_runs.filter(created_at__gte=now - _s(conf.service_window_seconds))
    if service_recent.count() >= conf.service_max_runs:
        return f"service budget: {conf.service_max_runs} runs on {run.service} per window"
    return blast_radius_blocker(run, conf)


def blast_radius_blocker(run: RemediationRun, conf: RemediationSettings) -> str:
    radius = run.blast_radius or {}
    if not radius.get("restart"):
        return ""
    from agents.service_registry import list_instances

    known = list_instances(radius.get("service", run.service)) or []
    targets = radius.get("instances", [])
    if not radius.get("rolling") and known and len(targets) >= len(known):
        return "blast radius: would restart every instance of the service at once"
    recent = RemediationRun.objects.exclude(pk=run.pk).filter(
        action="restart_service",
        service=run.service,
        status__in=EXECUTED,
        executed_at__gte=timezone.now() - _s(conf.restart_window_seconds),
    )
    if recent.count() >= conf.max_restarts_per_service:
        return f"blast radius: {conf.max_restarts_per_service} restarts of {run.service} per window"
    return ""


def halt_reason() -> str:
    """The kill switch or autonomy 'off': nothing may touch a service (execution, a resumed
    run, a rollback). Read fresh: never act on a stale kill switch at the last moment."""
    forget_settings()
    conf = current_settings()
    if conf.kill_switch:
        return "kill switch is on"
    if conf.autonomy_mode == AutonomyMode.OFF:
        return "autonomy is off"
    return ""


def execution_blocker(run: RemediationRun) -> str:
    """Just before executing: the kill switch and autonomy 'off' stop even approved runs."""
    return halt_reason() or blast_radius_blocker(run, current_settings())


# --- Circuit breaker -------------------------------------------------------------------------


def record_rule_outcome(rule_id: int, succeeded: bool) -> None:
    """A success closes the circuit and resets the count; K failures in a row open it."""
    with transaction.atomic():
        if succeeded:
            Rule.objects.filter(pk=rule_id).update(consecutive_failures=0)
            close_circuit(rule_id, actor=None, reason="a run succeeded")
            return
        Rule.objects.filter(pk=rule_id).update(consecutive_failures=F("consecutive_failures") + 1)
        rule = Rule.objects.get(pk=rule_id)
        threshold = current_settings().circuit_failure_threshold
        if rule.consecutive_failures >= threshold and not rule.circuit_open:
            opened = Rule.objects.filter(pk=rule_id, circuit_open=False).update(
                circuit_open=True, circuit_opened_at=timezone.now()
            )
            if opened:
                audit.record(
                    "circuit.opened", rule=rule, failures=rule.consecutive_failures,
                    threshold=threshold,
                )  # fmt: skip
                opened_circuit = CircuitOpened(
                    rule=rule.pk, name=rule.name, failures=rule.consecutive_failures
                )
                events.announce("remediation.circuit_open", opened_circuit, severity="error")


def close_circuit(rule_id: int, *, actor: object = None, reason: str = "") -> bool:
    """Close an open circuit (after a success, or by an operator); True when it was open."""
    with transaction.atomic():
        closed = Rule.objects.filter(pk=rule_id, circuit_open=True).update(
            circuit_open=False, circuit_opened_at=None, consecutive_failures=0
        )
        if closed:
            audit.record("circuit.closed", rule=rule_id, actor=actor, reason=reason)
    return bool(closed)


def _s(seconds: int) -> timedelta:
    return timedelta(seconds=seconds)
