"""A problem's title follows its fingerprint's template as that generalises.

Real PostgreSQL and Redis. The shared ``Fingerprinter`` folds a word slot that turns out to
hold values (``Accepted publickey for alice`` -> ``for <*>``) and keeps the first line's
fingerprint, so the problem opened on that first line must stop naming alice; families of
clusters merge and the alias sweep keeps the older problem, which must take the family's
template. A curator's title is never replaced, and a template that is not a generalisation
(a different event, routed here by a curator's merge) never replaces one.
"""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from io import StringIO

import pytest
import redis
from django.core.management import call_command
from django.db import connections
from django.urls import reverse

from agents.events import Event
from agents.mesh import EVENT_FIELD
from knowledge import embeddings, services
from knowledge.fingerprint import Fingerprinter
from knowledge.incident_text import readable
from knowledge.models import Problem, generalises
from tests.support import default_fingerprinter

from .conftest import T0

pytestmark = pytest.mark.django_db

USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace"]
GENERAL_SSH = "Accepted publickey for <*> from <*> port <*> ssh2"


def _ssh(user: str, n: int) -> str:
    return f"Accepted publickey for {user} from 10.0.{n}.7 port 22 ssh2"


def _login(user: str, n: int) -> str:
    # No key word before the name: each name splits at first, until a family forms.
    return f"account {user} logged in from 10.0.{n}.7"


@pytest.fixture
def shared(clean_redis: redis.Redis, monkeypatch) -> Fingerprinter:
    """This process's fingerprinter, fresh for the test (the Redis database was flushed)."""
    return default_fingerprinter(clean_redis, monkeypatch, "test:fp:titles")


def _updates(client: redis.Redis) -> list[dict]:
    return [
        Event.from_json(fields[EVENT_FIELD.encode()]).payload
        for _, fields in client.xrange("events:problem.updated")
    ]


def test_a_new_services_problem_reads_the_general_form_once_user_names_fold(
    shared: Fingerprinter, clean_redis: redis.Redis, django_capture_on_commit_callbacks
):
    first = services.record_sighting(_ssh("alice", 1), service="sshd", at=T0)
    assert first.title == "Accepted publickey for alice from <*> port <*> ssh2"

    # Nothing says "for" precedes a value: each name is a problem of its own at first, until
    # the slot has taken more than four values; then it folds, and the sweep that follows
    # the sighting's commit merges the names' problems into alice's, the oldest.
    with django_capture_on_commit_callbacks(execute=True):
        for n, user in enumerate(USERS[1:], start=2):
            services.record_sighting(_ssh(user, n), service="sshd", at=T0)

    problem = Problem.objects.get(merged_into=None)
    assert problem.pk == first.pk and problem.occurrence_count == len(USERS)
    assert problem.fingerprint == first.fingerprint  # the fold kept the first fingerprint
    assert (problem.title, problem.log_template) == (GENERAL_SSH, GENERAL_SSH)
    assert readable(problem.title) == "Accepted publickey for … from … port … ssh2"
    # Similarity follows the new words: the vector is the one of the stored text.
    assert list(problem.embedding) == pytest.approx(embeddings.embed_text(problem.embedding_text()))
    # Open pages hear of it once: the sighting's own update carries the changed fields.
    retitled = [p for p in _updates(clean_redis) if p["changed"]]
    assert [(p["title"], p["changed"]) for p in retitled] == [
        (GENERAL_SSH, ["title", "log_template"])
    ]


def test_a_name_after_user_folds_at_once_and_the_title_follows(shared: Fingerprinter):
    """``user`` before a word says it is a value: the slot folds sooner (evidence), and the
    problem opened on the first line, titled with its name, follows at that sighting."""
    first = services.record_sighting("session opened for user root by (uid=0)", at=T0)
    for name in ("alice", "bob", "carol"):
        services.record_sighting(f"session opened for user {name} by (uid=0)", at=T0)

    problem = Problem.objects.get(merged_into=None)
    assert problem.pk == first.pk
    assert "root" in first.title and "root" not in problem.title
    assert readable(problem.title) == "session opened for user … by (uid=…)"


def test_the_problem_page_names_no_user_after_the_fold(shared: Fingerprinter, client, viewer):
    for n, user in enumerate(USERS):
        problem = services.record_sighting(_ssh(user, n), service="sshd", at=T0)
    client.force_login(viewer)

    html = client.get(reverse("dashboard:problem", args=[problem.pk])).content.decode()

    heading = html.split("<h1>", 1)[1].split("</h1>", 1)[0]
    assert heading == "Accepted publickey for … from … port … ssh2"
    title = html.split("<title>", 1)[1].split("</title>", 1)[0]
    assert "alice" not in title and "&lt;*&gt;" not in title
    assert "alice" not in html


def test_a_curated_title_survives_the_fold(shared: Fingerprinter, admin_user, client):
    problem = services.record_sighting(_ssh("alice", 1), service="sshd", at=T0)
    client.force_login(admin_user)
    page = reverse("admin:knowledge_problem_change", args=[problem.pk])
    assert "Automatic: the log template" in client.get(page).content.decode()
    response = client.post(
        page,
        {
            "title": "SSH logins by key (expected)",
            "status": "open",
            "category": "other",
            "severity": "error",
            "signal": "",
            "description": "",
            "services": "sshd",
            "error_patterns": json.dumps(problem.error_patterns),
            "log_template": problem.log_template,
            "solutions-TOTAL_FORMS": "0",
            "solutions-INITIAL_FORMS": "0",
            "occurrences-TOTAL_FORMS": "0",
            "occurrences-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302

    for n, user in enumerate(USERS[1:], start=2):
        services.record_sighting(_ssh(user, n), service="sshd", at=T0)

    problem.refresh_from_db()
    assert problem.title == "SSH logins by key (expected)"
    assert problem.log_template == GENERAL_SSH  # the template still follows the fingerprint
    assert "Written by hand: kept as it is." in client.get(page).content.decode()


def test_a_title_curated_after_the_row_was_read_is_not_overwritten():
    problem = services.ensure_problem(
        fingerprint="fp:curated-late", title=_ssh("alice", 1), log_template=_ssh("alice", 1)
    )[0]
    assert problem.title_is_automatic
    Problem.objects.filter(pk=problem.pk).update(title="Key logins")  # a curator, meanwhile

    assert problem.follow_template(GENERAL_SSH) == ["log_template"]

    problem.refresh_from_db()
    assert (problem.title, problem.log_template) == ("Key logins", GENERAL_SSH)


def test_the_alias_sweep_gives_the_kept_problem_the_general_title(shared: Fingerprinter):
    services.sweep_aliases()  # the sweep's cursor starts here
    alice = services.record_sighting(_login("alice", 1), service="auth", at=T0)
    bob = services.record_sighting(_login("bob", 2), service="auth", at=T0 + timedelta(minutes=1))
    for n, user in enumerate(USERS[2:], start=10):  # fingerprinted only: no sighting
        shared.fingerprint_message(_login(user, n))
    assert Problem.objects.get(pk=alice.pk).title == "account alice logged in from <*>"

    services.sweep_aliases()

    kept = Problem.objects.get(merged_into=None)
    assert kept.pk == alice.pk and bob.pk != kept.pk
    assert (kept.title, kept.log_template) == ("account <*> logged in from <*>",) * 2
    assert readable(kept.title) == "account … logged in from …"
    # Sweeping again changes nothing: the title moved once.
    updated_at = kept.updated_at
    shared.redis.delete(f"{shared._k_alias_log}:followed")
    services.sweep_aliases()
    assert Problem.objects.get(pk=kept.pk).updated_at == updated_at


def test_a_sweep_in_a_process_that_fingerprinted_nothing_reads_the_shared_templates(
    shared: Fingerprinter, clean_redis: redis.Redis
):
    services.sweep_aliases()
    alice = services.record_sighting(_login("alice", 1), service="auth", at=T0)
    services.record_sighting(_login("bob", 2), service="auth", at=T0)
    beat = Fingerprinter(clean_redis, namespace="test:fp:titles")  # its copy: loaded now
    beat.refresh()
    for n, user in enumerate(USERS[2:], start=10):  # the family forms in another worker
        shared.fingerprint_message(_login(user, n))
    assert beat.template_of(alice.fingerprint) == "account alice logged in from <*>"

    services.sweep_aliases(beat)

    assert Problem.objects.get(merged_into=None).title == "account <*> logged in from <*>"


def test_a_problem_kept_under_a_tombstone_takes_the_family_title(shared: Fingerprinter):
    services.sweep_aliases()
    shared.fingerprint_message(_login("alice", 1))  # the family's fingerprint: no problem
    bob = services.record_sighting(_login("bob", 2), service="auth", at=T0)
    for n, user in enumerate(USERS[2:], start=10):
        shared.fingerprint_message(_login(user, n))

    services.sweep_aliases()

    bob.refresh_from_db()
    assert bob.merged_into_id is None
    assert bob.title == "account <*> logged in from <*>"


def test_an_unrelated_template_never_replaces_a_title(shared: Fingerprinter):
    """A curator merged the disk-full problem into the timeout one; disk-full lines, routed
    there by the tombstone, carry a template that is no generalisation of the kept one's."""
    timeout = services.record_sighting("upstream timed out after 30s", service="web", at=T0)
    disk = services.record_sighting("disk full on /var/lib/data", service="db", at=T0)
    services.merge_problems(timeout, [disk])
    before = Problem.objects.values_list("title", "log_template").get(pk=timeout.pk)

    again = services.record_sighting("disk full on /var/lib/data", service="db", at=T0)

    assert again.pk == timeout.pk
    assert Problem.objects.values_list("title", "log_template").get(pk=timeout.pk) == before
    assert timeout.follow_template("disk full on <*>") == []


def test_an_exceptions_title_is_not_a_template_to_follow(shared: Fingerprinter):
    def crash(message: str) -> Problem:
        frames = [{"module": "bookmarks.views", "function": "create", "in_app": True}]
        exception = {"type": "ValueError", "message": message, "frames": frames}
        return services.record_sighting(message, exception=exception, at=T0)

    first = crash("bad url for alice")
    assert crash("bad url <*> for <*>").pk == first.pk
    assert Problem.objects.get(pk=first.pk).title == first.title


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("for alice from <*>", "for <*> from <*>", True),
        ("GET /api/users/42 failed", "GET /api/users/<*> failed", True),
        ("user=alice logged in", "user=<*> logged in", True),
        ("for <*> from <*>", "for <*> from <*>", False),  # nothing moved
        ("for <*> from <*>", "for alice from <*>", False),  # specialising
        ("disk full on <*>", "upstream timed out <*>", False),  # another event
        ("for alice from <*>", "for bob from <*>", False),  # a word swapped, not wildcarded
        ("for alice", "for <*> now", False),  # another length
        ("", "for <*>", False),  # no template stored (a seeded problem)
        ("user=alice", "name=<*>", False),  # the wildcard must stand for what was there
    ],
)
def test_only_a_generalisation_counts(old: str, new: str, expected: bool):
    assert generalises(old, new) is expected


def test_a_sighting_of_a_settled_template_costs_no_extra_statement(
    shared: Fingerprinter, django_assert_num_queries
):
    """The comparison rides on the counting UPDATE: find the problem, count into it, upsert
    the minute bucket, read the problem back (and the savepoint around them)."""
    for n, user in enumerate(USERS):
        services.record_sighting(_ssh(user, n), service="sshd", at=T0)
    with django_assert_num_queries(6):
        services.record_sighting(_ssh("zed", 99), service="sshd", at=T0)


def test_the_upgrade_command_retitles_problems_no_sighting_touched(shared: Fingerprinter):
    """Folds from before this change, or since, with no sighting of the problem after."""
    root = services.record_sighting("session opened for user root by (uid=0)", at=T0)
    curated = services.ensure_problem(
        fingerprint=shared.fingerprint_message("disk sda failed on host alpha").fingerprint,
        title="Disk failures",
        log_template="disk sda failed on host alpha",
    )[0]
    for name in ("alice", "bob", "carol"):
        shared.fingerprint_message(f"session opened for user {name} by (uid=0)")
    for host in ("beta", "gamma", "delta", "epsilon", "zeta"):
        shared.fingerprint_message(f"disk sda failed on host {host}")
    assert Problem.objects.get(pk=root.pk).title == root.title  # nothing sighted it since
    out = StringIO()

    call_command("follow_templates", stdout=out)

    assert "2 problems now follow their template." in out.getvalue()
    assert readable(Problem.objects.get(pk=root.pk).title) == (
        "session opened for user … by (uid=…)"
    )
    curated.refresh_from_db()
    assert (curated.title, curated.log_template) == ("Disk failures", "disk sda failed on host <*>")
    call_command("follow_templates", stdout=out)
    assert "0 problems now follow their template." in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_concurrent_sightings_after_a_fold_retitle_once(
    shared: Fingerprinter, clean_redis: redis.Redis
):
    root = services.record_sighting("session opened for user root by (uid=0)", at=T0)
    for name in ("alice", "bob", "carol"):  # the fold, seen by the fingerprinter only
        shared.fingerprint_message(f"session opened for user {name} by (uid=0)")
    workers = 6
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def sight(i: int) -> None:
        try:
            barrier.wait()
            services.record_sighting(
                f"session opened for user u{i}x by (uid=0)", at=T0 + timedelta(minutes=i)
            )
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sight, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    problem = Problem.objects.get(pk=root.pk)
    assert problem.occurrence_count == 1 + workers
    assert "root" not in problem.title and problem.title_is_automatic
    assert [p["changed"] for p in _updates(clean_redis) if p["changed"]] == [
        ["title", "log_template"]
    ]
