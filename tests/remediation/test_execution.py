"""Execution end to end against a real HTTP control API: propose, execute, verify, learn;
failures rolled back and escalated; a worker that died mid-run is never repeated blindly."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.utils import timezone

from agents import mesh
from agents.diagnostic.agent import diagnosis_ready_event
from agents.runtime import AgentRunner
from knowledge.models import Recommendation, Solution
from remediation import engine
from remediation.agent import RemediationAgent
from remediation.models import AuditEntry, RemediationRun, Rule, RunAttempt, RunStatus
from remediation.seed import seed_rules
from tests.remediation.conftest import make_diagnosis, make_rule, set_safety

pytestmark = pytest.mark.django_db(transaction=True)


def statuses(run: RemediationRun) -> list[str]:
    return [t.to_status for t in run.transitions.all()]


def published(event_type: str) -> list[dict]:
    return [d.event.payload for d in mesh.replay(event_type)]


def test_an_import_timeout_diagnosis_is_fixed_by_a_smaller_batch_and_verified(control):
    seed_rules()
    Recommendation.objects.create(key="import.batch_size", value=250)
    diagnosis = make_diagnosis("import_timeout", 0.9, with_solution="retry_with_smaller_batch")
    mesh.publish(diagnosis_ready_event(diagnosis))

    runner = AgentRunner(RemediationAgent())
    for _ in range(3):
        runner.run_once(block_ms=50)

    [run] = RemediationRun.objects.all()
    assert run.rule.name == "import-timeout-smaller-batch"
    assert run.status == RunStatus.SUCCEEDED
    assert statuses(run) == ["approved", "running", "verifying", "succeeded"]
    [request] = control.requests  # found through the registry, called once
    assert request["operation"] == "retry_import"
    assert request["body"]["params"]["batch_size"] == 250  # the learned size
    assert request["key"] == f"remediation-{run.pk}-retry_import"
    assert Solution.objects.get(pk=run.solution_id).successes == 1
    assert [p["run"] for p in published("remediation.succeeded")] == [run.pk]
    assert published("remediation.proposed")[0]["action"] == "retry_with_smaller_batch"
    kinds = list(AuditEntry.objects.values_list("kind", flat=True))
    assert kinds[:4] == ["rule.matched", "run.auto_approved", "run.executing", "run.executed"]
    assert "solution.outcome" in kinds


def test_one_diagnosis_yields_one_run_per_rule_however_often_it_arrives(control):
    make_rule()
    diagnosis = make_diagnosis()

    first = engine.propose_for_diagnosis(diagnosis.pk)
    again = engine.propose_for_diagnosis(diagnosis.pk)

    assert len(first) == 1 and again == []
    assert RemediationRun.objects.count() == 1


def test_a_confidence_below_the_threshold_proposes_nothing_but_is_audited(control):
    make_rule(confidence_threshold=0.95)

    assert engine.propose_for_diagnosis(make_diagnosis(confidence=0.9).pk) == []

    assert AuditEntry.objects.filter(kind="rule.below_threshold").count() == 1


def test_verification_failure_rolls_back_then_escalates(control):
    set_safety(autonomy_mode="auto_up_to_medium")
    rule = make_rule(action="scale_out", parameters={"replicas": 2}, risk="medium")
    diagnosis = make_diagnosis(with_solution="scale_out")
    # Its own symptom is still there (the service's overall health alone would not count).
    control.health, control.signals = "unhealthy", {"import_timeout": 40}

    [run] = engine.propose_for_diagnosis(diagnosis.pk)

    run.refresh_from_db()
    assert statuses(run) == ["approved", "running", "verifying", "failed", "rolled_back",
                             "escalated"]  # fmt: skip
    assert control.operations() == ["scale", "scale_rollback"]
    assert [r["body"]["params"]["delta"] for r in control.requests] == [2, -2]
    assert Solution.objects.get(pk=run.solution_id).failures == 1
    assert published("remediation.rolled_back")[0]["run"] == run.pk
    assert published("remediation.failed")[0]["run"] == run.pk
    rule.refresh_from_db()
    assert rule.effective_threshold == pytest.approx(0.82)  # failure raised it one step
    assert AuditEntry.objects.filter(kind="threshold.changed").exists()


def test_a_signal_still_reported_by_the_service_is_not_a_recovery(control):
    make_rule(action="clear_cache")
    control.signals = {"import_timeout": 12}

    [run] = engine.propose_for_diagnosis(make_diagnosis().pk)

    run.refresh_from_db()
    assert run.status == RunStatus.ESCALATED  # clear_cache cannot roll back: straight up
    assert "still reports import_timeout" in run.error


def test_a_refused_operation_fails_the_run_and_escalates(control):
    make_rule(action="clear_cache")
    control.fail["clear_cache"] = 409

    [run] = engine.propose_for_diagnosis(make_diagnosis().pk)

    run.refresh_from_db()
    assert statuses(run)[-2:] == ["failed", "escalated"]
    assert "HTTP 409" in run.error
    assert RunAttempt.objects.get(run=run).outcome == "failed"


def test_success_lowers_the_effective_threshold_within_its_bounds(control):
    rule = make_rule(action="clear_cache", confidence_threshold=0.51, threshold_min=0.5)

    for _ in range(2):
        engine.propose_for_diagnosis(make_diagnosis().pk)

    rule.refresh_from_db()
    assert rule.effective_threshold == 0.5  # 0.51 - 0.02 clamped to the bound
    assert AuditEntry.objects.filter(kind="threshold.changed").count() == 1


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def left_running(control, action: str, worker: str) -> RemediationRun:
    """A run whose worker marked it running, recorded its attempt, then was killed."""
    make_rule(action=action, requires_approval=True)
    [run] = engine.propose_for_diagnosis(make_diagnosis().pk)
    run.transition(RunStatus.APPROVED)
    run.transition(RunStatus.RUNNING, executed_at=timezone.now())
    RunAttempt.objects.create(run=run, number=1, worker=worker)
    return run


def test_a_run_left_running_by_a_dead_worker_is_not_executed_again(control):
    import socket

    run = left_running(control, "restart_service", f"{socket.gethostname()}:{dead_pid()}")

    outcome = engine.execute(run.pk)  # the task, redelivered after the crash

    run.refresh_from_db()
    assert outcome == "escalated"
    assert control.requests == []  # the restart was not sent a second time
    assert statuses(run)[-2:] == ["failed", "escalated"]
    assert "not executed again" in run.error
    assert RunAttempt.objects.get(run=run).outcome == "abandoned"
    assert AuditEntry.objects.filter(kind="run.interrupted", run_id=run.pk).exists()


def test_an_idempotent_action_left_running_by_a_dead_worker_resumes(control):
    import socket

    run = left_running(control, "clear_cache", f"{socket.gethostname()}:{dead_pid()}")

    engine.execute(run.pk)

    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert list(run.attempts.values_list("number", "outcome")) == [
        (1, "abandoned"), (2, "succeeded"),
    ]  # fmt: skip


def test_a_run_whose_worker_is_alive_is_left_alone(control):
    import os
    import socket

    run = left_running(control, "restart_service", f"{socket.gethostname()}:{os.getpid()}")

    assert engine.execute(run.pk) == "skipped: an attempt is in progress"

    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING and control.requests == []


def test_dry_run_mode_goes_through_every_step_without_acting(control):
    set_safety(dry_run=True)
    make_rule(action="clear_cache")

    [run] = engine.propose_for_diagnosis(make_diagnosis().pk)

    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and run.dry_run
    assert run.result["dry_run"] is True
    assert control.requests == []


def test_seeded_rules_cover_the_catalogue_and_seeding_is_idempotent():
    assert seed_rules() == {"created": 19, "kept": 0}
    assert seed_rules() == {"created": 0, "kept": 19}
    timeout = Rule.objects.get(signal="import_timeout")
    memory = Rule.objects.get(signal="high_memory_usage")
    assert (timeout.action, timeout.confidence_threshold, timeout.risk) == (
        "retry_with_smaller_batch", 0.8, "low",
    )  # fmt: skip
    assert not timeout.requires_approval
    assert (memory.action, memory.confidence_threshold, memory.risk) == (
        "restart_service", 0.9, "medium",
    )  # fmt: skip
    assert memory.requires_approval


def test_new_sightings_or_anomalies_after_the_action_mean_no_recovery(control):
    from datetime import timedelta

    from agents.models import Anomaly
    from knowledge.models import Occurrence
    from remediation import verification

    make_rule(action="clear_cache", requires_approval=True)
    [run] = engine.propose_for_diagnosis(make_diagnosis().pk)
    run.executed_at = timezone.now() - timedelta(minutes=5)
    assert verification.signal_recovered(run)[0]

    now = timezone.now()
    problem = run.diagnosis.problem
    Occurrence.objects.create(problem=problem, at=Occurrence.bucket(now), service="bookmarks",
                              count=3, last_at=now)  # fmt: skip
    assert verification.signal_recovered(run) == (
        False, "the problem occurred again after the action",
    )  # fmt: skip
    Occurrence.objects.all().delete()
    Anomaly.objects.create(series="import.failed", detector="minute", category="import",
                           severity="error", score=5, value=9, window_start=now,
                           window_end=now, problem=problem)  # fmt: skip
    assert not verification.signal_recovered(run)[0]


def _worker_process(run_id: int) -> subprocess.Popen:
    """A separate process executing the run, as a Celery worker would."""
    import os
    from urllib.parse import quote

    from django.conf import settings
    from django.db import connection

    db = connection.settings_dict
    env = dict(os.environ)
    env["DATABASE_URL"] = f"postgresql://{db['USER']}@{quote(db['HOST'], safe='')}/{db['NAME']}"
    env["REDIS_URL"] = settings.REDIS_URL
    env["SECRET_KEY"] = settings.SECRET_KEY
    env["CONTROL_URL_ALLOWED_NETWORKS"] = ",".join(settings.CONTROL_URL_ALLOWED_NETWORKS)
    code = f"from remediation import engine; engine.execute({run_id})"
    return subprocess.Popen(
        [sys.executable, "manage.py", "shell", "-c", code],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_a_worker_sigkilled_mid_restart_never_restarts_twice(control):
    import signal
    import time

    make_rule(action="restart_service", requires_approval=True)
    [run] = engine.propose_for_diagnosis(make_diagnosis().pk)
    run.refresh_from_db()
    run.transition(RunStatus.APPROVED)
    control.hang.add("restart")  # the restart call is in flight when the worker dies

    worker = _worker_process(run.pk)
    try:
        deadline = time.monotonic() + 60
        while not control.requests and time.monotonic() < deadline and worker.poll() is None:
            time.sleep(0.1)
        assert control.operations() == ["restart"]
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING  # what the dead worker left behind

    assert engine.execute(run.pk) == "escalated"  # the task, redelivered (late ack)

    run.refresh_from_db()
    assert control.operations() == ["restart"]  # once, never twice
    assert statuses(run)[-2:] == ["failed", "escalated"]
    [attempt] = run.attempts.all()
    assert attempt.outcome == "abandoned" and attempt.worker.endswith(f":{worker.pid}")
