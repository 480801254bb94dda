"""One open incident per cause and service, however long it stays open.

The operator's report: an incident awaiting approval for more than ten minutes got a twin
when its fault came back ("Import worker memory leak" twice, "Anomaly on api.error_rate"
twice), because a repeat only joined a diagnosis seen in the last ten minutes. These run
the real diagnostic agent over real events (mesh, PostgreSQL); the race is two real
transactions on two connections.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from agents.diagnostic import reasoning
from agents.diagnostic.agent import diagnose as diagnose_one
from knowledge import services, similarity
from knowledge.models import Diagnosis, EventKind, Incident, Problem
from knowledge.seed import seed_knowledge
from tests.agents.test_diagnostic_corroboration import (
    SOFT_LIMIT,
    TIMED_OUT,
    anomaly,
    diagnose,
    error_line,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def seeded(monkeypatch):
    monkeypatch.setattr(similarity, "EXEMPLARS", similarity.ExemplarIndex())  # per test
    seed_knowledge()


def age(minutes: int) -> None:
    Diagnosis.objects.update(last_seen=timezone.now() - timedelta(minutes=minutes))


def timeline(incident: Incident) -> list[str]:
    return list(incident.timeline.values_list("text", flat=True))


def test_the_same_error_after_a_long_open_spell_joins_its_incident(seeded):
    diagnose(error_line(TIMED_OUT))
    age(40)  # awaiting approval for 40 minutes: the old ten-minute window had closed

    diagnose(error_line(TIMED_OUT))

    [incident] = Incident.objects.all()  # before the fix: two, both open
    diagnosis = incident.diagnosis
    assert incident.is_open and diagnosis.event_count == 2
    assert any(t.startswith("Seen again after 40 minutes") for t in timeline(incident))
    assert "(2 sightings in all)" in timeline(incident)[-1]


def test_another_wording_of_the_cause_after_a_long_spell_joins_it(seeded):
    diagnose(error_line(TIMED_OUT))
    age(40)

    diagnose(error_line(SOFT_LIMIT))

    [incident] = Incident.objects.all()
    assert incident.cause == "signal:import_timeout"
    assert incident.diagnosis.event_count == 2


def test_an_anomaly_series_back_out_of_range_joins_its_incident(seeded):
    diagnose(anomaly("api.error_rate"))
    age(30)

    diagnose(anomaly("api.error_rate"))

    [incident] = Incident.objects.all()
    assert incident.cause.startswith("problem:")
    assert incident.diagnosis.event_count == 2
    assert any(t.startswith("Seen again after 30 minutes") for t in timeline(incident))


def test_a_burst_inside_the_open_spell_adds_no_timeline_rows(seeded):
    diagnose(error_line(TIMED_OUT))
    incident = Incident.objects.get()
    rows = incident.timeline.count()

    diagnose(error_line(TIMED_OUT), error_line(TIMED_OUT))

    assert incident.timeline.count() == rows
    assert Diagnosis.objects.get().event_count == 3


def test_a_recurrence_after_resolve_opens_a_new_incident_naming_the_old(seeded):
    diagnose(error_line(TIMED_OUT))
    old = Incident.objects.get()
    services.resolve(old, note="restarted the import worker")

    diagnose(error_line(TIMED_OUT))

    new = Incident.objects.exclude(pk=old.pk).get()
    assert new.is_open and new.cause == old.cause
    note = new.timeline.get(kind=EventKind.NOTE).text
    assert note.startswith(f"This cause came back: incident {old.pk} was resolved at")
    assert "restarted the import worker" in note


def test_two_workers_opening_one_cause_at_once_make_one_incident(seeded):
    """Worker A has opened the cause's incident but not committed; worker B diagnoses
    another wording of it meanwhile. B cannot see A's rows, so only the database's
    constraint can stop a twin: B waits on it, then joins A's diagnosis."""
    event = error_line(SOFT_LIMIT)
    service = reasoning.service_of(event)
    problem = Problem.objects.get(signal="import_timeout", fingerprint__startswith="catalogue:")
    opened, release = threading.Event(), threading.Event()

    def worker_a() -> None:
        try:
            with transaction.atomic():
                first = Diagnosis.objects.create(
                    problem=problem, service=service, trigger_event_id="worker-a",
                    trigger_type="log.line", root_cause="import timeout",
                    signal="import_timeout", confidence=0.8,
                )  # fmt: skip
                services.open_incident(first)
                opened.set()
                release.wait(10)
        finally:
            connection.close()

    a = threading.Thread(target=worker_a)
    a.start()
    assert opened.wait(10)
    threading.Timer(1.0, release.set).start()  # A commits while B waits on the constraint
    started = time.monotonic()
    joined = diagnose_one(SOFT_LIMIT, [event], service=service, instance="web-1")
    waited = time.monotonic() - started
    a.join(10)

    [incident] = Incident.objects.all()
    assert incident.diagnosis.trigger_event_id == "worker-a"
    assert joined.pk == incident.diagnosis_id
    assert Diagnosis.objects.count() == 1  # B's own diagnosis rolled back with its clash
    assert incident.diagnosis.event_count == 2
    assert waited >= 0.5  # B really was held by A's uncommitted incident


def test_the_database_refuses_a_second_open_incident_for_a_cause(seeded):
    diagnose(error_line(TIMED_OUT))
    first = Incident.objects.get()
    twin = Diagnosis.objects.create(
        problem=first.diagnosis.problem, service=first.service, trigger_event_id="twin",
        trigger_type="log.line", root_cause="x", signal=first.diagnosis.signal, confidence=0.5,
    )  # fmt: skip

    with pytest.raises(services.SameCauseOpen) as clash:
        services.open_incident(twin)

    assert clash.value.incident.pk == first.pk
    assert Incident.objects.count() == 1


def test_an_anomaly_read_as_a_bursts_symptom_keeps_joining_that_incident(seeded):
    diagnose(error_line(TIMED_OUT))
    diagnose(anomaly())  # during the burst: corroborates it
    age(5)  # the errors stopped; the series is still out of range past the 90 s window

    diagnose(anomaly())

    [incident] = Incident.objects.all()
    assert incident.diagnosis.event_count == 3
    assert any(t.startswith("Seen again after 5 minutes") for t in timeline(incident))
