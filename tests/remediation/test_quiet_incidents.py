"""The quiet rule: an incident whose symptom stopped for the quiet period resolves itself and
its prompts are superseded; a noisy one, an acknowledged one and one with a fix under way
stay open. Real PostgreSQL and Redis; the diagnostic agent's own function for sightings."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from agents.diagnostic import reasoning
from agents.diagnostic.agent import diagnose as diagnose_one
from aiops_site.celery import app as celery_app
from knowledge import services, similarity
from knowledge.models import Diagnosis, EventKind, Incident, IncidentState
from knowledge.seed import seed_knowledge
from remediation import engine, tasks
from remediation.engine.quieting import QUIET_RESOLUTION, resolve_quiet_incidents
from remediation.metrics import INCIDENTS_QUIET
from remediation.models import AuditEntry, RemediationRun, RunStatus
from tests.agents.test_diagnostic_corroboration import TIMED_OUT, diagnose, error_line
from tests.remediation.conftest import make_diagnosis, make_rule

pytestmark = pytest.mark.django_db(transaction=True)


def unseen_for(minutes: int) -> None:
    Diagnosis.objects.update(last_seen=timezone.now() - timedelta(minutes=minutes))


def prompted() -> tuple[Incident, RemediationRun]:
    make_rule(action="clear_cache", requires_approval=True)
    diagnosis = make_diagnosis()
    [run] = engine.propose_for_diagnosis(diagnosis.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.AWAITING_APPROVAL
    return services.incident_for(diagnosis), run


def resolved_count() -> float:
    return INCIDENTS_QUIET.labels("resolved")._value.get()


def test_the_default_quiet_period_is_fifteen_minutes_and_beat_runs_it_each_minute():
    assert settings.INCIDENT_QUIET_MINUTES == 15
    entry = settings.CELERY_BEAT_SCHEDULE["resolve-quiet-incidents"]
    assert entry["task"] in celery_app.tasks and entry["schedule"] == 60.0


def test_a_quiet_incident_resolves_and_its_prompt_is_superseded(control):
    incident, run = prompted()
    unseen_for(16)
    before = resolved_count()

    assert tasks.resolve_quiet_incidents() == 1

    incident.refresh_from_db()
    assert incident.state == IncidentState.RESOLVED
    assert incident.resolution.startswith(f"{QUIET_RESOLUTION} (not seen for 15 minutes, since ")
    run.refresh_from_db()
    assert run.status == RunStatus.SUPERSEDED
    assert run.transitions.last().reason.startswith(
        f"its incident was resolved ({QUIET_RESOLUTION}"
    )
    assert AuditEntry.objects.filter(kind="run.superseded", run_id=run.pk).exists()
    assert incident.timeline.filter(to_state=IncidentState.RESOLVED, actor=None).exists()
    assert resolved_count() == before + 1
    assert control.requests == []  # nothing was done to the service


def test_an_incident_inside_the_quiet_period_stays_open(control):
    incident, run = prompted()
    unseen_for(14)

    assert resolve_quiet_incidents().resolved == []

    incident.refresh_from_db()
    run.refresh_from_db()
    assert incident.is_open and run.status == RunStatus.AWAITING_APPROVAL


def test_a_fix_under_way_is_left_to_the_verifier(control):
    incident, run = prompted()
    RemediationRun.objects.filter(pk=run.pk).update(status=RunStatus.VERIFYING)
    unseen_for(60)

    assert resolve_quiet_incidents().resolved == []

    incident.refresh_from_db()
    assert incident.state == IncidentState.REMEDIATING


def test_an_acknowledged_incident_is_left_open_and_says_so_once(control, approver):
    incident, run = prompted()  # remediating: acknowledging it keeps the state, notes who
    services.acknowledge(incident, approver)
    unseen_for(30)

    first, again = resolve_quiet_incidents(), resolve_quiet_incidents()

    assert first.left_acknowledged == [incident.pk] and again.left_acknowledged == []
    incident.refresh_from_db()
    run.refresh_from_db()
    assert incident.is_open and run.status == RunStatus.AWAITING_APPROVAL
    [note] = incident.timeline.filter(kind=EventKind.NOTE, text__startswith="The symptom stopped")
    assert "left this incident open because alice acknowledged it" in note.text


@pytest.fixture
def seeded(monkeypatch):
    monkeypatch.setattr(similarity, "EXEMPLARS", similarity.ExemplarIndex())  # per test
    seed_knowledge()


def test_a_still_noisy_incident_stays_open_until_it_goes_quiet(seeded):
    diagnose(error_line(TIMED_OUT))
    unseen_for(20)
    event = error_line(TIMED_OUT)
    diagnose_one(
        TIMED_OUT, [event], service=reasoning.service_of(event), instance="web-1"
    )  # seen now

    assert resolve_quiet_incidents().resolved == []
    assert Incident.objects.get().is_open

    unseen_for(16)
    [pk] = resolve_quiet_incidents().resolved
    diagnose(error_line(TIMED_OUT))  # it comes back: a new incident that names this one

    new = Incident.objects.open().get()
    assert new.pk != pk
    assert new.timeline.filter(text__contains=f"incident {pk} was resolved at").exists()
