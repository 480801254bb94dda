"""The data migration: diagnoses made before incidents existed each get one, in the state
their status implies, with a readable title and a two-row timeline."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from knowledge import services
from knowledge.models import Incident
from tests.incidents.conftest import make_diagnosis, make_problem

pytestmark = pytest.mark.django_db(transaction=True)
migration = importlib.import_module("knowledge.migrations.0007_incidents_for_diagnoses")


def test_each_existing_diagnosis_gets_its_incident_in_the_matching_state():
    learned = make_problem("tpl:1", "HTMLParseError: HTMLParseError: bad tag <*>")
    open_one = make_diagnosis(learned, evidence={"message": "HTMLParseError: bad tag <*>"})
    fixed = make_diagnosis(status="resolved")
    busy = make_diagnosis(status="remediating")

    migration.create_incidents(apps, None)
    migration.create_incidents(apps, None)  # a second run adds nothing

    assert Incident.objects.count() == 3
    states = {i.diagnosis_id: i.state for i in Incident.objects.all()}
    assert states == {open_one.pk: "diagnosed", fixed.pk: "resolved", busy.pk: "remediating"}
    incident = Incident.objects.get(diagnosis=open_one)
    assert incident.title == "HTMLParseError: bad tag …"
    assert [e.kind for e in incident.timeline.all()] == ["detected", "state"]
    assert Incident.objects.get(diagnosis=fixed).resolved_at is not None


cause_migration = importlib.import_module("knowledge.migrations.0008_incident_cause")


def test_existing_incidents_are_keyed_and_twins_already_open_are_left_unkeyed():
    """Twins opened before the key existed: the oldest keeps the cause, the other stays
    open but unkeyed (not closed behind anyone's back); resolved ones are keyed too."""
    first, twin, old = (services.open_incident(make_diagnosis(), dedupe=False) for _ in range(3))
    Incident.objects.filter(pk=old.pk).update(state="resolved")
    Incident.objects.update(cause="")

    cause_migration.key_incidents(apps, None)

    keys = dict(Incident.objects.values_list("pk", "cause"))
    cause = "signal:high_memory_usage"
    assert keys == {first.pk: cause, twin.pk: "", old.pk: cause}
