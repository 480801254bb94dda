"""The run state machine: every legal transition recorded, every illegal one refused, and
a stale copy of a run never wins a transition another worker already made."""

from __future__ import annotations

import pytest

from remediation.models import (
    TRANSITIONS,
    IllegalTransition,
    RemediationRun,
    RunStatus,
    RunTransition,
)
from tests.remediation.conftest import make_diagnosis, make_rule

pytestmark = pytest.mark.django_db(transaction=True)

LEGAL = [(a, b) for a, targets in TRANSITIONS.items() for b in sorted(targets)]
ILLEGAL = [(a, b) for a in RunStatus.values for b in RunStatus.values if b not in TRANSITIONS[a]]


def run_in(status: str) -> RemediationRun:
    rule = make_rule()
    return RemediationRun.objects.create(
        rule=rule, diagnosis=make_diagnosis(), action="notify", risk="low", confidence=0.9,
        threshold=0.8, status=status,
    )  # fmt: skip


@pytest.mark.parametrize(("source", "target"), LEGAL)
def test_each_legal_transition_is_made_and_recorded(source, target, approver):
    run = run_in(source)

    assert run.transition(target, actor=approver, reason="because")

    run.refresh_from_db()
    assert run.status == target
    [row] = RunTransition.objects.filter(run=run)
    assert (row.from_status, row.to_status, row.actor, row.reason) == (
        source, target, approver, "because",
    )  # fmt: skip
    assert row.at is not None


@pytest.mark.parametrize(("source", "target"), ILLEGAL)
def test_each_illegal_transition_is_refused(source, target):
    run = run_in(source)

    with pytest.raises(IllegalTransition):
        run.transition(target)

    run.refresh_from_db()
    assert run.status == source
    assert not RunTransition.objects.exists()


def test_a_stale_copy_loses_to_the_worker_that_moved_first():
    run = run_in(RunStatus.APPROVED)
    stale = RemediationRun.objects.get(pk=run.pk)

    assert run.transition(RunStatus.RUNNING)
    assert not stale.transition(RunStatus.ESCALATED)  # exactly one row changed, once

    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING
    assert RunTransition.objects.count() == 1


def test_terminal_states_have_no_way_out():
    for status in ("succeeded", "rejected", "expired", "escalated"):
        assert TRANSITIONS[status] == frozenset()
