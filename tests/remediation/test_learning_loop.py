"""The learning loop: a run moves its diagnosis (remediating, resolved), and a verified fix
becomes a learned solution of the diagnosed problem, once. Real control API over HTTP."""

from __future__ import annotations

import pytest

from knowledge.models import (
    Diagnosis,
    DiagnosisStatus,
    Edge,
    Problem,
    Relation,
    Solution,
    SolutionSource,
)
from remediation import engine
from remediation.actions import get_action
from remediation.models import AuditEntry, RemediationRun, RunStatus
from tests.remediation.conftest import make_diagnosis, make_rule, set_safety

pytestmark = pytest.mark.django_db(transaction=True)


def propose(diagnosis: Diagnosis) -> RemediationRun:
    [run] = engine.propose_for_diagnosis(diagnosis.pk)
    run.refresh_from_db()
    return run


def status_of(diagnosis: Diagnosis) -> str:
    diagnosis.refresh_from_db()
    return diagnosis.status


@pytest.fixture
def not_executed(monkeypatch) -> list[int]:
    """Approved runs are queued here instead of executing (to see the state in between)."""
    queued: list[int] = []
    # The engine's steps import it from executing.py: patch where proposing looks it up.
    monkeypatch.setattr("remediation.engine.proposing.enqueue_execute", queued.append)
    return queued


# --- The diagnosis follows its run --------------------------------------------------------------


def test_a_verified_fix_resolves_its_diagnosis(control):
    make_rule(action="clear_cache")
    diagnosis = make_diagnosis()

    run = propose(diagnosis)

    assert run.status == RunStatus.SUCCEEDED
    assert status_of(diagnosis) == DiagnosisStatus.RESOLVED


def test_an_auto_approved_run_puts_its_diagnosis_under_remediation(control, not_executed):
    make_rule(action="clear_cache")
    diagnosis = make_diagnosis()

    run = propose(diagnosis)

    assert run.status == RunStatus.APPROVED and not_executed == [run.pk]
    assert status_of(diagnosis) == DiagnosisStatus.REMEDIATING

    engine.execute(run.pk)  # eager: executes, then verifies on commit

    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert status_of(diagnosis) == DiagnosisStatus.RESOLVED


def test_a_run_awaiting_approval_puts_its_diagnosis_under_remediation(control, approver):
    make_rule(action="clear_cache", requires_approval=True)
    diagnosis = make_diagnosis()

    run = propose(diagnosis)

    assert run.status == RunStatus.AWAITING_APPROVAL
    assert status_of(diagnosis) == DiagnosisStatus.REMEDIATING

    engine.approve(run, approver)

    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert status_of(diagnosis) == DiagnosisStatus.RESOLVED


def test_a_failed_fix_does_not_resolve_its_diagnosis(control):
    make_rule(action="clear_cache")
    control.fail["clear_cache"] = 409
    diagnosis = make_diagnosis()

    run = propose(diagnosis)

    assert run.status == RunStatus.ESCALATED
    assert status_of(diagnosis) != DiagnosisStatus.RESOLVED


def test_a_run_blocked_by_a_budget_leaves_its_diagnosis_open(control):
    make_rule(action="clear_cache", cooldown_seconds=600)
    propose(make_diagnosis())  # the run that starts the cooldown
    diagnosis = make_diagnosis()

    run = propose(diagnosis)

    assert run.status == RunStatus.REJECTED and "cooldown" in run.transitions.last().reason
    assert status_of(diagnosis) == DiagnosisStatus.OPEN


def test_autonomy_off_leaves_the_diagnosis_open(control):
    set_safety(autonomy_mode="off")
    make_rule(action="clear_cache")
    diagnosis = make_diagnosis()

    assert engine.propose_for_diagnosis(diagnosis.pk) == []
    assert status_of(diagnosis) == DiagnosisStatus.OPEN


# --- A verified fix becomes a learned solution --------------------------------------------------


def solutions_of(problem: Problem):
    return Solution.objects.filter(problem=problem)


def solved_by(problem: Problem, solution: Solution):
    return Edge.objects.filter(
        source_kind="problem", source_id=problem.pk, relation=Relation.SOLVED_BY,
        target_kind="solution", target_id=solution.pk,
    )  # fmt: skip


def test_a_verified_fix_is_learned_as_a_solution_of_the_problem_once(control):
    make_rule(action="clear_cache", parameters={"cache": "imports", "pattern": "user:*"})
    diagnosis = make_diagnosis()
    problem = diagnosis.problem
    assert not solutions_of(problem).exists()

    run = propose(diagnosis)

    assert run.status == RunStatus.SUCCEEDED
    assert run.solution_id is None  # nothing known when it was proposed
    [learned] = solutions_of(problem)
    assert learned.source == SolutionSource.LEARNED
    assert learned.action == "clear_cache"
    assert learned.title == get_action("clear_cache").title
    assert learned.parameters == run.parameters == {"cache": "imports", "pattern": "user:*"}
    assert (learned.successes, learned.failures) == (1, 0)
    assert solved_by(problem, learned).count() == 1
    [entry] = AuditEntry.objects.filter(kind="solution.learned")
    assert entry.run_id == run.pk

    # The same problem again: the learned solution is used and counted, not learned again.
    second = propose(make_diagnosis())

    assert second.status == RunStatus.SUCCEEDED
    assert second.solution_id == learned.pk
    [again] = solutions_of(problem)
    assert again.pk == learned.pk
    assert (again.successes, again.failures) == (2, 0)
    assert AuditEntry.objects.filter(kind="solution.learned").count() == 1
    assert solved_by(problem, learned).count() == 1


def test_no_solution_is_learned_when_the_problem_has_one_with_that_action(control):
    make_rule(action="clear_cache")
    diagnosis = make_diagnosis(with_solution="clear_cache")
    [known] = solutions_of(diagnosis.problem)

    run = propose(diagnosis)

    assert run.status == RunStatus.SUCCEEDED
    assert list(solutions_of(diagnosis.problem)) == [known]
    known.refresh_from_db()
    assert known.successes == 1
    assert not AuditEntry.objects.filter(kind="solution.learned").exists()


@pytest.mark.parametrize("failure", ["refused", "not_recovered"])
def test_no_solution_is_learned_from_a_failed_fix(control, failure):
    make_rule(action="clear_cache")
    if failure == "refused":
        control.fail["clear_cache"] = 409
    else:
        control.signals = {"import_timeout": 12}
    diagnosis = make_diagnosis()

    run = propose(diagnosis)

    assert run.status == RunStatus.ESCALATED
    assert not solutions_of(diagnosis.problem).exists()
    assert not AuditEntry.objects.filter(kind="solution.learned").exists()


def test_a_dry_run_teaches_nothing(control):
    set_safety(dry_run=True)
    make_rule(action="clear_cache")
    diagnosis = make_diagnosis()

    run = propose(diagnosis)

    assert run.status == RunStatus.SUCCEEDED and control.requests == []
    assert not solutions_of(diagnosis.problem).exists()
