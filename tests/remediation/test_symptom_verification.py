"""Verification checks the symptom the run fixed, not the service's whole health.

The demo's case, played on the simulator's world through its real control API over HTTP:
the import worker leaks memory, the seeded rule restarts it (approved by a person), and
while the fix is being verified the next fault (duplicate bookmarks) hits the same service
and makes it unhealthy. The memory-leak fix must show Succeeded, and the new fault is its
own incident.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from agents.diagnostic.agent import diagnose
from agents.diagnostic.reasoning import error_text
from agents.events import parse_event
from agents.service_registry import register_instance
from knowledge import services
from knowledge.models import Diagnosis, IncidentState, Problem
from knowledge.seed import seed_knowledge
from remediation import engine
from remediation.actions import control as control_client
from remediation.models import RemediationRun, RunStatus
from remediation.seed import seed_rules
from simulator import scenarios
from simulator.control import ControlAPI, ControlServer
from simulator.deployment import instance_of
from simulator.world import World

pytestmark = pytest.mark.django_db(transaction=True)
WORKER = "import-worker"
DUPLICATE = (
    "psycopg.errors.UniqueViolation: duplicate key value violates unique constraint "
    '"bookmarks_user_url_key" DETAIL: Key (user_id, url)=(7, https://example.com/7) already '
    "exists."
)


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def stage() -> Iterator[tuple[World, Clock]]:
    world, clock = World(seed=7), Clock()
    server = ControlServer(ControlAPI(world, retry_imports=lambda jobs: None, clock=clock), port=0)
    server.thread = threading.Thread(
        target=server.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    server.start()
    register_instance(WORKER, instance_of(WORKER), control_url=server.control_url(WORKER))
    yield world, clock
    server.stop()


def signals(world: World, signal: str, count: int, now: float) -> None:
    with world.lock:
        for _ in range(count):
            world.signal_log.record(WORKER, signal, now)


def test_a_working_fix_succeeds_although_the_next_fault_hits_the_service(
    stage, approver, monkeypatch
):
    world, clock = stage
    seed_knowledge(), seed_rules()
    scenarios.get("memory_leak").inject(world)
    signals(world, "high_memory_usage", 35, clock.now)
    leak = Problem.objects.get(fingerprint__startswith="catalogue:", signal="high_memory_usage")
    diagnosis = Diagnosis.objects.create(
        problem=leak, service=WORKER, instance=instance_of(WORKER), trigger_event_id="t-1",
        trigger_type="log.line", root_cause=leak.title, signal="high_memory_usage",
        confidence=0.95, evidence={"message": "MemoryError: import worker over its limit"},
    )  # fmt: skip
    incident = services.open_incident(diagnosis)
    [run] = engine.propose_for_diagnosis(diagnosis.pk)
    pending: list[int] = []  # verification waits for the rule's window; we hold it here
    monkeypatch.setattr(
        "remediation.engine.executing.enqueue_verify", lambda run_id, _: pending.append(run_id)
    )

    engine.approve(run, approver)  # the seeded rule asks a person first

    assert pending == [run.pk] and "high_memory_usage" not in world.faulty()
    # During the watch window: the leak's signals age out, the next fault hits the worker.
    clock.now += 70
    scenarios.get("duplicate_bookmarks").inject(world)
    signals(world, "duplicate_bookmarks", 40, clock.now)
    assert control_client.health(WORKER) == {
        "status": "unhealthy", "signals": {"duplicate_bookmarks": 40},
    }  # fmt: skip
    line = parse_event({"type": "log.line", "source": WORKER, "instance": instance_of(WORKER),
                        "payload": {"level": "ERROR", "message": DUPLICATE}})  # fmt: skip
    new = diagnose(error_text(line), [line], service=WORKER, instance=instance_of(WORKER))

    assert engine.verify(run.pk) == "succeeded"

    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert "other faults on import-worker are their own incidents: duplicate_bookmarks" in (
        run.transitions.last().reason
    )
    incident.refresh_from_db()
    assert incident.state == IncidentState.RESOLVED
    assert new.signal == "duplicate_bookmarks"
    assert services.incident_for(new).state == IncidentState.DIAGNOSED  # its own incident
    assert RemediationRun.objects.filter(status=RunStatus.ESCALATED).count() == 0


def test_the_fix_fails_when_its_own_symptom_is_still_there(stage, approver, monkeypatch):
    world, clock = stage
    seed_knowledge(), seed_rules()
    leak = Problem.objects.get(fingerprint__startswith="catalogue:", signal="high_memory_usage")
    diagnosis = Diagnosis.objects.create(
        problem=leak, service=WORKER, instance=instance_of(WORKER), trigger_event_id="t-2",
        trigger_type="log.line", root_cause=leak.title, signal="high_memory_usage",
        confidence=0.95,
    )  # fmt: skip
    [run] = engine.propose_for_diagnosis(diagnosis.pk)
    monkeypatch.setattr("remediation.engine.executing.enqueue_verify", lambda *_: None)
    engine.approve(run, approver)
    signals(world, "high_memory_usage", 5, clock.now)  # it leaks again right away

    assert engine.verify(run.pk) == "escalated"

    run.refresh_from_db()
    assert run.error == "the control API still reports high_memory_usage (5/min)"
    assert services.incident_for(diagnosis).state == IncidentState.REOPENED
