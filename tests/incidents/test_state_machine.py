"""The incident state machine: opening writes its first timeline, every legal move is made
and recorded once, illegal ones are refused, and two connections racing for one move
produce exactly one winner."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from knowledge import services
from knowledge.models import (
    INCIDENT_TRANSITIONS,
    DiagnosisStatus,
    IllegalIncidentTransition,
    Incident,
    IncidentEvent,
    IncidentState,
)
from tests.incidents.conftest import open_incident

pytestmark = pytest.mark.django_db(transaction=True)
St = IncidentState
LEGAL = [(a, b) for a, targets in INCIDENT_TRANSITIONS.items() for b in sorted(targets)]
ILLEGAL = [(a, b) for a in St.values for b in St.values if b not in INCIDENT_TRANSITIONS[a]]


def incident_in(state: str) -> Incident:
    incident = open_incident()
    Incident.objects.filter(pk=incident.pk).update(state=state)
    return Incident.objects.get(pk=incident.pk)


def test_opening_records_detection_then_diagnosis_with_confidence():
    incident = open_incident()

    assert incident.state == St.DIAGNOSED
    assert incident.title == "Import worker memory leak"  # the catalogue problem's name
    assert incident.severity == "critical"
    detected, diagnosed = incident.timeline.all()
    assert detected.kind == "detected" and "import-worker" in detected.text
    assert (diagnosed.from_state, diagnosed.to_state) == (St.TRIGGERED, St.DIAGNOSED)
    assert "92% confident" in diagnosed.text


def test_opening_twice_keeps_one_incident():
    incident = open_incident()
    again = services.open_incident(incident.diagnosis)

    assert again.pk == incident.pk and Incident.objects.count() == 1


@pytest.mark.parametrize(("source", "target"), LEGAL)
def test_each_legal_move_is_made_and_recorded(source, target, django_user_model):
    user = django_user_model.objects.create_user("carol")
    incident = incident_in(source)

    assert incident.transition(target, actor=user, reason="because")

    incident.refresh_from_db()
    assert incident.state == target
    row = IncidentEvent.objects.filter(incident=incident, kind="state").last()
    assert (row.from_state, row.to_state, row.actor, row.actor_label, row.text) == (
        source, target, user, "carol", "because",
    )  # fmt: skip


@pytest.mark.parametrize(("source", "target"), ILLEGAL)
def test_each_illegal_move_is_refused(source, target):
    incident = incident_in(source)

    with pytest.raises(IllegalIncidentTransition):
        incident.transition(target)
    assert Incident.objects.get(pk=incident.pk).state == source


def test_the_diagnosis_follows_its_incident():
    incident = open_incident()
    diagnosis = incident.diagnosis

    steps = [(St.REMEDIATING, DiagnosisStatus.REMEDIATING), (St.REOPENED, DiagnosisStatus.OPEN),
             (St.RESOLVED, DiagnosisStatus.RESOLVED)]  # fmt: skip
    for state, status in steps:
        assert incident.transition(state)
        diagnosis.refresh_from_db()
        assert diagnosis.status == status
    assert incident.resolved_at is not None


def test_a_stale_copy_loses_to_the_move_made_first():
    incident = open_incident()
    stale = Incident.objects.get(pk=incident.pk)

    assert incident.transition(St.REMEDIATING)
    assert not stale.transition(St.ACKNOWLEDGED)

    assert Incident.objects.get(pk=incident.pk).state == St.REMEDIATING
    assert incident.timeline.filter(to_state=St.ACKNOWLEDGED).count() == 0


def test_two_connections_racing_for_one_incident_have_exactly_one_winner():
    incident = open_incident()
    barrier = threading.Barrier(2)
    results: dict[str, bool] = {}

    def move(target: str) -> None:
        try:
            copy = Incident.objects.get(pk=incident.pk)  # both read "diagnosed"
            with transaction.atomic():
                barrier.wait(5)
                results[target] = copy.transition(target, reason=f"to {target}")
        finally:
            connection.close()  # each thread has its own connection

    threads = [threading.Thread(target=move, args=(t,)) for t in (St.ACKNOWLEDGED, St.RESOLVED)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert sorted(results.values()) == [False, True]
    winner = next(t for t, won in results.items() if won)
    incident.refresh_from_db()
    assert incident.state == winner
    assert list(incident.timeline.filter(kind="state").values_list("to_state", flat=True)) == [
        St.DIAGNOSED, winner,
    ]  # fmt: skip


def test_acknowledge_and_resolve_by_hand_name_the_person(django_user_model):
    user = django_user_model.objects.create_user("dave")
    incident = open_incident()

    assert services.acknowledge(incident, user)
    assert services.resolve(incident, actor=user, note="restarted the worker by hand")

    incident.refresh_from_db()
    assert (incident.state, incident.acknowledged_by) == (St.RESOLVED, "dave")
    assert incident.resolution == "restarted the worker by hand"
    last = incident.timeline.last()
    assert (last.to_state, last.actor, last.text) == (
        St.RESOLVED, user, "restarted the worker by hand",
    )  # fmt: skip
    assert not services.resolve(incident, actor=user)  # resolving twice changes nothing
