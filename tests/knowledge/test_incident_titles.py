"""An open incident's title follows its problem's as the template generalises.

Real PostgreSQL and Redis. An incident opened on "Accepted publickey for alice ..." is titled
from that line; once the fingerprinter folds the user slot and the problem reads "for …",
the open incident reads the general title too, in the transaction that moved the problem's,
and says so once on its timeline and as ``incident.retitled``. A catalogue problem's name
and a resolved incident's words are kept.
"""

from __future__ import annotations

import pytest
import redis
from django.urls import reverse

from agents.events import Event
from agents.mesh import EVENT_FIELD, Delivery
from dashboard.live import INCIDENT_PREFIX, Coalescer
from dashboard.relay import DashboardRelay
from knowledge import services
from knowledge.models import EventKind, Incident, Problem
from tests.incidents.conftest import make_diagnosis, make_problem

from .conftest import T0
from .test_titles import GENERAL_SSH, USERS, _ssh, shared  # noqa: F401 (a fixture)

# Every test fingerprints with a fresh shared Fingerprinter (test_titles' fixture).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("shared")]

GENERAL = "Accepted publickey for … from … port … ssh2"


def _open_on_alice(problem: Problem | None = None, **fields) -> Incident:
    """What the diagnostic agent does with the first line: a problem, its diagnosis (the
    line as its evidence), and the incident titled from it."""
    problem = problem or services.record_sighting(_ssh("alice", 1), service="sshd", at=T0)
    diagnosis = make_diagnosis(
        problem,
        service="sshd",
        instance="sshd-1",
        **{"signal": "", "evidence": {"message": _ssh("alice", 1)}, **fields},
    )
    return services.open_incident(diagnosis)


def _fold(incident: Incident, capture) -> Problem:
    """The other users log in: the slot folds, and the sweep after commit merges their
    problems into alice's, which takes the general template and title."""
    with capture(execute=True):
        for n, user in enumerate(USERS[1:], start=2):
            services.record_sighting(_ssh(user, n), service="sshd", at=T0)
    return Problem.objects.get(pk=incident.diagnosis.problem_id)


def _retitled(client: redis.Redis) -> list[dict]:
    return [
        Event.from_json(fields[EVENT_FIELD.encode()]).payload
        for _, fields in client.xrange("events:incident.retitled")
    ]


def test_an_open_incident_reads_the_general_title_after_the_fold(
    clean_redis: redis.Redis, django_capture_on_commit_callbacks
):
    incident = _open_on_alice()
    assert incident.title == _ssh("alice", 1)

    problem = _fold(incident, django_capture_on_commit_callbacks)

    assert problem.merged_into_id is None and problem.title_is_automatic
    incident.refresh_from_db()
    assert incident.title == GENERAL
    notes = list(incident.timeline.filter(kind=EventKind.NOTE).values_list("text", flat=True))
    assert notes == [f"Title generalised: the same error came with other values, so it now "
                     f"reads “{GENERAL}”."]  # fmt: skip
    # Open pages and the mesh hear of it once.
    assert [(p["incident"], p["title"]) for p in _retitled(clean_redis)] == [(incident.pk, GENERAL)]


def test_a_later_fold_moves_an_already_generalised_title_again():
    line = _ssh("alice", 1)
    problem = services.ensure_problem(fingerprint="fp:ssh", title=line, log_template=line)[0]
    incident = _open_on_alice(problem)
    services.follow_template(problem, "Accepted publickey for <*> from 10.0.1.7 port 22 ssh2")
    incident.refresh_from_db()
    assert incident.title == "Accepted publickey for … from 10.0.1.7 port 22 ssh2"

    services.follow_template(problem, GENERAL_SSH)

    incident.refresh_from_db()
    assert incident.title == GENERAL


def test_an_incident_named_after_a_catalogue_problem_keeps_its_name(
    clean_redis: redis.Redis, django_capture_on_commit_callbacks
):
    catalogue = make_problem("catalogue:ssh-key-login", "SSH key logins", "ssh_key_login")
    incident = _open_on_alice(
        signal="ssh_key_login", hypotheses=[{"problem": catalogue.pk, "cause": "SSH key logins"}]
    )
    assert incident.title == "SSH key logins"

    problem = _fold(incident, django_capture_on_commit_callbacks)

    assert problem.title == GENERAL_SSH  # the problem did follow
    incident.refresh_from_db()
    assert incident.title == "SSH key logins"
    assert _retitled(clean_redis) == []


def test_a_resolved_incident_keeps_its_title(
    clean_redis: redis.Redis, django_capture_on_commit_callbacks
):
    incident = _open_on_alice()
    services.resolve(incident, note="alice's key was expected")

    _fold(incident, django_capture_on_commit_callbacks)

    incident.refresh_from_db()
    assert incident.title == _ssh("alice", 1)
    assert not incident.timeline.filter(text__startswith="Title generalised").exists()
    assert _retitled(clean_redis) == []


def test_a_title_that_moved_meanwhile_is_not_overwritten():
    incident = _open_on_alice()
    Incident.objects.filter(pk=incident.pk).update(title="Key logins on sshd")  # meanwhile

    assert incident.retitle(_ssh("alice", 1), GENERAL) is False

    incident.refresh_from_db()
    assert incident.title == "Key logins on sshd"


def test_the_incident_page_names_no_user_after_the_fold(
    client, viewer, django_capture_on_commit_callbacks
):
    incident = _open_on_alice()
    _fold(incident, django_capture_on_commit_callbacks)
    client.force_login(viewer)

    html = client.get(reverse("dashboard:incident", args=[incident.pk])).content.decode()

    heading = html.split("<h1>", 1)[1].split(" <span", 1)[0]
    assert heading == GENERAL
    title = html.split("<title>", 1)[1].split("</title>", 1)[0]
    assert title.startswith(f"{GENERAL} · Incident {incident.pk}")
    # Above the evidence, nothing names a user; the evidence and the "Detected" row keep
    # quoting the line the incident opened on, as it was (the record, not a summary).
    summary = html.split('id="incident-timeline"', 1)[0]
    assert "alice" not in summary
    overview = client.get(reverse("dashboard:overview")).content.decode()
    assert GENERAL in overview and "alice" not in overview


def test_an_incident_of_a_problem_merged_by_the_fold_follows_too(
    django_capture_on_commit_callbacks,
):
    """Bob's line was a problem of its own until the fold merged it into alice's."""
    services.record_sighting(_ssh("alice", 1), service="sshd", at=T0)
    bob = services.record_sighting(_ssh("bob", 2), service="sshd", at=T0)
    diagnosis = make_diagnosis(bob, service="sshd", signal="", evidence={"message": _ssh("bob", 2)})
    incident = services.open_incident(diagnosis)

    with django_capture_on_commit_callbacks(execute=True):
        for n, user in enumerate(USERS[2:], start=3):
            services.record_sighting(_ssh(user, n), service="sshd", at=T0)

    assert Problem.objects.get(pk=bob.pk).merged_into_id is not None
    incident.refresh_from_db()
    assert incident.title == GENERAL


def test_the_retitle_repaints_the_incidents_panel_and_the_open_page(
    clean_redis: redis.Redis, django_capture_on_commit_callbacks
):
    incident = _open_on_alice()
    _fold(incident, django_capture_on_commit_callbacks)
    [(entry, fields)] = clean_redis.xrange("events:incident.retitled")
    raw = fields[EVENT_FIELD.encode()]
    relay = DashboardRelay()
    relay.coalescer = Coalescer(interval=60)  # flushed by hand below

    relay.handle([Delivery("events:incident.retitled", entry.decode(), "", raw)])
    pushed = relay.coalescer.flush()
    relay.coalescer.stop()

    assert pushed == [f"{INCIDENT_PREFIX}{incident.pk}", "incidents"]


# --- Incidents opened after the fold -------------------------------------------------------------


def _open_on(user: str, n: int, **fields) -> Incident:
    """What the diagnostic agent does with a later line: sighted into the (folded) problem,
    a diagnosis quoting the line, and its incident."""
    problem = services.record_sighting(_ssh(user, n), service="sshd", at=T0)
    diagnosis = make_diagnosis(
        problem, service="sshd", **{"signal": "", "evidence": {"message": _ssh(user, n)}, **fields}
    )
    return services.open_incident(diagnosis)


def _fold_first(capture) -> Problem:
    """Alice's line, then the others': the slot folds and their problems merge into hers."""
    with capture(execute=True):
        for n, user in enumerate(USERS, start=1):
            services.record_sighting(_ssh(user, n), service="sshd", at=T0)
    return Problem.objects.get(merged_into=None)


def test_an_incident_opened_after_the_fold_reads_the_general_title(
    django_capture_on_commit_callbacks,
):
    problem = _fold_first(django_capture_on_commit_callbacks)
    assert problem.title == GENERAL_SSH and problem.title_is_automatic

    incident = _open_on("bob", 2)

    incident.refresh_from_db()
    assert incident.diagnosis.problem_id == problem.pk
    assert incident.title == GENERAL
    assert "bob" not in incident.title and "<*>" not in incident.title
    # The record still quotes the line as it came: the "Detected" row and the evidence.
    detected = incident.timeline.get(kind=EventKind.DETECTED).text
    assert detected == f"Detected on sshd: {_ssh('bob', 2)}"
    assert incident.diagnosis.evidence["message"] == _ssh("bob", 2)
    # Nothing to say on the timeline: it was never titled otherwise.
    assert not incident.timeline.filter(text__startswith="Title generalised").exists()


def test_an_incident_opened_after_the_fold_still_follows_a_later_fold():
    line = _ssh("alice", 1)
    problem = services.ensure_problem(fingerprint="fp:ssh", title=line, log_template=line)[0]
    services.follow_template(problem, "Accepted publickey for <*> from 10.0.1.7 port 22 ssh2")
    problem.refresh_from_db()
    incident = _open_on_alice(problem)  # opened on the line, after the first fold
    assert incident.title == "Accepted publickey for … from 10.0.1.7 port 22 ssh2"

    services.follow_template(problem, GENERAL_SSH)

    incident.refresh_from_db()
    assert incident.title == GENERAL


def test_a_catalogue_name_still_wins_after_the_fold(django_capture_on_commit_callbacks):
    _fold_first(django_capture_on_commit_callbacks)
    catalogue = make_problem("catalogue:ssh-key-login", "SSH key logins", "ssh_key_login")

    incident = _open_on(
        "bob", 2, signal="ssh_key_login",
        hypotheses=[{"problem": catalogue.pk, "cause": "SSH key logins"}],
    )  # fmt: skip

    assert incident.title == "SSH key logins"


def test_a_curators_title_wins_after_the_fold(django_capture_on_commit_callbacks):
    problem = _fold_first(django_capture_on_commit_callbacks)
    Problem.objects.filter(pk=problem.pk).update(title="SSH key logins on the bastion")

    incident = _open_on("bob", 2)

    assert incident.title == "SSH key logins on the bastion"


def test_an_unfolded_problems_incident_is_titled_from_its_line():
    """Alice alone: the template has slots (the address and the port), but only where every
    line has a value; the line's words say more than "from … port …"."""
    incident = _open_on("alice", 1)

    problem = incident.diagnosis.problem
    assert problem.title == "Accepted publickey for alice from <*> port <*> ssh2"
    assert incident.title == _ssh("alice", 1)
