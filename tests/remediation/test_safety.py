"""Safety: autonomy modes, kill switch, rate limits, cooldowns, blast radius, circuit breaker."""

from __future__ import annotations

import pytest

from agents import mesh
from remediation import engine, safety
from remediation.models import AuditEntry, RemediationRun, Rule, RunStatus
from tests.remediation.conftest import make_diagnosis, make_rule, set_safety

pytestmark = pytest.mark.django_db(transaction=True)


def propose(**diagnosis_fields) -> RemediationRun:
    [run] = engine.propose_for_diagnosis(make_diagnosis(**diagnosis_fields).pk)
    run.refresh_from_db()
    return run


def test_low_risk_runs_on_its_own_under_auto_low_but_medium_waits(control):
    set_safety(autonomy_mode="auto_low")
    make_rule(signal="a", action="clear_cache", risk="low")
    make_rule(signal="b", action="clear_cache", risk="medium")

    assert propose(signal="a").status == RunStatus.SUCCEEDED
    assert propose(signal="b").status == RunStatus.AWAITING_APPROVAL


def test_the_reason_an_operator_reads_names_the_autonomy_mode_in_words(control):
    set_safety(autonomy_mode="auto_low")
    make_rule(signal="a", action="clear_cache", risk="low")
    make_rule(signal="b", action="clear_cache", risk="medium")

    automatic, waiting = propose(signal="a"), propose(signal="b")

    # Shown on the run's timeline and the incident's: not "autonomy auto_low < medium".
    assert automatic.transitions.first().reason == "autonomy is “automatic for low risk”"
    assert waiting.transitions.last().reason == (
        "medium risk needs a person (autonomy is “automatic for low risk”)"
    )


def test_suggest_mode_makes_every_run_wait(control):
    set_safety(autonomy_mode="suggest")
    make_rule(action="clear_cache", risk="low")

    assert propose().status == RunStatus.AWAITING_APPROVAL
    assert control.requests == []


def test_autonomy_off_proposes_nothing(control):
    set_safety(autonomy_mode="off")
    make_rule(action="clear_cache")

    assert engine.propose_for_diagnosis(make_diagnosis().pk) == []


def test_the_kill_switch_stops_even_approved_runs(control, approver):
    make_rule(action="clear_cache", requires_approval=True)
    run = propose()
    set_safety(kill_switch=True)

    engine.approve(run, approver)

    run.refresh_from_db()
    assert run.status == RunStatus.ESCALATED
    assert run.transitions.last().reason == "kill switch is on"
    assert control.requests == []


def test_the_rate_limit_blocks_runs_past_the_window_budget(control):
    make_rule(action="clear_cache", max_runs=2, window_seconds=3600)

    runs = [propose() for _ in range(3)]

    assert [r.status for r in runs] == ["succeeded", "succeeded", "rejected"]
    assert "rate limit" in runs[2].transitions.last().reason
    assert len(control.requests) == 2


def test_the_cooldown_blocks_a_second_run_on_the_same_service(control):
    make_rule(action="clear_cache", cooldown_seconds=600)

    first, second = propose(), propose()
    elsewhere = propose(service="search", instance="s-1")

    assert (first.status, second.status) == ("succeeded", "rejected")
    assert "cooldown" in second.transitions.last().reason
    assert elsewhere.status != RunStatus.REJECTED  # the cooldown is per service


def test_the_service_budget_counts_all_rules_together(control):
    set_safety(service_max_runs=1)
    make_rule(signal="a", action="clear_cache")
    make_rule(signal="b", action="clear_cache")

    assert propose(signal="a").status == RunStatus.SUCCEEDED
    assert "service budget" in propose(signal="b").transitions.last().reason


def test_never_restart_every_instance_at_once(control):
    set_safety(autonomy_mode="auto_up_to_high")
    make_rule(action="restart_service", parameters={"rolling": False}, risk="low")

    run = propose(instance="")  # no single instance named: all of them

    assert run.status == RunStatus.REJECTED
    assert "every instance" in run.transitions.last().reason


def test_at_most_n_restarts_per_service_per_window(control):
    set_safety(max_restarts_per_service=1, autonomy_mode="auto_up_to_medium")
    make_rule(action="restart_service", parameters={"rolling": True}, risk="low")

    first, second = propose(), propose()

    assert first.status == RunStatus.SUCCEEDED
    assert control.requests[0]["body"]["params"] == {"instances": ["web-1", "web-2"],
                                                     "rolling": True}  # fmt: skip
    assert second.status == RunStatus.REJECTED
    assert "restarts" in second.transitions.last().reason


def test_the_circuit_opens_after_k_failures_and_runs_then_need_approval(control, approver):
    set_safety(circuit_failure_threshold=2)
    rule = make_rule(action="clear_cache", threshold_max=0.8)
    control.health, control.signals = "unhealthy", {"import_timeout": 40}  # its symptom

    assert [propose().status for _ in range(2)] == ["escalated", "escalated"]

    rule.refresh_from_db()
    assert rule.circuit_open and rule.consecutive_failures == 2
    [opened] = [d.event.payload for d in mesh.replay("remediation.circuit_open")]
    assert opened["rule"] == rule.pk
    assert AuditEntry.objects.filter(kind="circuit.opened").count() == 1
    waiting = propose()
    assert waiting.status == RunStatus.AWAITING_APPROVAL  # automation stopped

    control.health, control.signals = "healthy", {}
    engine.approve(waiting, approver)  # a human-approved success closes it again

    rule.refresh_from_db()
    assert not rule.circuit_open and rule.consecutive_failures == 0
    assert propose().status == RunStatus.SUCCEEDED


def test_an_operator_can_close_a_circuit(control, approver):
    rule = make_rule(action="clear_cache")
    Rule.objects.filter(pk=rule.pk).update(circuit_open=True, consecutive_failures=5)

    assert safety.close_circuit(rule.pk, actor=approver, reason="fixed upstream")
    assert not safety.close_circuit(rule.pk, actor=approver)

    rule.refresh_from_db()
    assert not rule.circuit_open
    assert AuditEntry.objects.get(kind="circuit.closed").actor == "alice"


def test_the_settings_row_is_a_cached_singleton():
    set_safety(kill_switch=True)

    assert safety.current_settings().kill_switch
    set_safety(kill_switch=False)
    assert not safety.current_settings().kill_switch
    from remediation.models import RemediationSettings

    assert RemediationSettings.objects.count() == 1


def test_a_rule_cannot_lower_the_risk_of_its_action(control):
    set_safety(autonomy_mode="auto_low")
    make_rule(action="restart_service", parameters={"rolling": True}, risk="low")

    run = propose()

    assert run.risk == "medium"
    assert run.status == RunStatus.AWAITING_APPROVAL  # auto_low does not restart on its own
