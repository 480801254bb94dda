"""The graph follows the fingerprinter's merges: one problem per kind of error (issue 15).

Real PostgreSQL and Redis: problems are opened by ``record_sighting`` under sibling
messages, the shared ``Fingerprinter`` later folds the siblings into one family (recording
aliases; the family keeps the first sibling's fingerprint), and ``sweep_aliases`` merges the
problems opened under the merged-away fingerprints, without waiting for a sighting to carry
them again. The messages name the account after no key word (``user``, ``by``), so nothing
tells the fingerprinter early that the name is a value: each name splits at first.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.db import connections
from prometheus_client import REGISTRY

from agents.tasks import sweep_fingerprint_aliases
from aiops_site.celery import app
from knowledge import services
from knowledge.fingerprint import Fingerprinter
from knowledge.models import Occurrence, Problem, ProblemStatus
from knowledge.services import AliasSweep
from tests.support import default_fingerprinter

from .conftest import T0

pytestmark = pytest.mark.django_db

SIBLINGS = ["carol", "dave", "erin", "frank", "grace"]


def _login(user: str, n: int) -> str:
    return f"account {user} logged in from 10.0.{n}.7"


@pytest.fixture
def shared(clean_redis: redis.Redis, monkeypatch) -> Fingerprinter:
    """This process's fingerprinter, fresh for the test (the Redis database was flushed)."""
    return default_fingerprinter(clean_redis, monkeypatch, "test:fp:alias")


def _two_problems_then_a_family(shared: Fingerprinter) -> tuple[Problem, Problem]:
    """alice's and bob's logins open two problems; more names make them one family, which
    keeps alice's fingerprint (the first one handed out)."""
    alice = services.record_sighting(_login("alice", 1), service="auth", at=T0, count=3)
    bob = services.record_sighting(
        _login("bob", 2), service="sso", at=T0 + timedelta(minutes=1), count=2
    )
    assert alice.pk < bob.pk and alice.fingerprint != bob.fingerprint
    for n, user in enumerate(SIBLINGS):  # fingerprinted only: no sighting carries alice or bob
        shared.fingerprint_message(_login(user, 10 + n))
    assert shared.resolve_alias(bob.fingerprint) == alice.fingerprint
    assert shared.resolve_alias(alice.fingerprint) == alice.fingerprint
    return alice, bob


def _graph() -> list[tuple]:
    return list(
        Problem.objects.order_by("pk").values_list(
            "pk", "fingerprint", "merged_into_id", "occurrence_count", "status", "updated_at"
        )
    )


def _applied(outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "ai_ops_fingerprint_aliases_applied_total", {"outcome": outcome}
    )
    return value or 0.0


def test_the_sweep_merges_problems_opened_under_sibling_messages(shared: Fingerprinter):
    assert services.sweep_aliases() == AliasSweep()  # nothing yet; the sweep starts its cursor
    alice, bob = _two_problems_then_a_family(shared)
    # The gap: neither problem was sighted again, so the graph still holds two.
    assert Problem.objects.filter(merged_into=None).count() == 2
    merged_before = _applied("merged")

    done = services.sweep_aliases()

    assert done == AliasSweep(read=3, merged=1)  # bob and two unsighted names, into alice
    kept = Problem.objects.get(merged_into=None)
    assert kept.pk == alice.pk  # the older problem is kept
    assert kept.occurrence_count == 5  # each sighting counted once
    assert sorted(kept.services) == ["auth", "sso"]
    assert (kept.first_seen, kept.last_seen) == (T0, T0 + timedelta(minutes=1))
    assert sum(Occurrence.objects.filter(problem=kept).values_list("count", flat=True)) == 5
    assert not Occurrence.objects.exclude(problem=kept).exists()
    bob.refresh_from_db()
    assert (bob.merged_into_id, bob.status, bob.occurrence_count) == (
        alice.pk,
        ProblemStatus.IGNORED,
        0,
    )
    assert Problem.objects.count() == 2  # the family is alice's: no tombstone to route it
    assert _applied("merged") == merged_before + 1

    # A second sweep reads nothing new; re-following every alias from scratch changes nothing.
    graph = _graph()
    assert services.sweep_aliases() == AliasSweep()
    shared.redis.delete(f"{shared._k_alias_log}:followed")
    assert services.sweep_aliases() == AliasSweep(read=3)
    assert _graph() == graph

    # Later sightings, under a sibling's name or a name never seen, land on the kept problem.
    for n, user in enumerate(["bob", "zed"]):
        assert services.record_sighting(_login(user, 40 + n), service="auth").pk == alice.pk
    assert Problem.objects.get(pk=alice.pk).occurrence_count == 7
    assert Problem.objects.filter(merged_into=None).count() == 1


def test_a_family_whose_fingerprint_has_no_problem_is_routed_by_a_tombstone(
    shared: Fingerprinter,
):
    services.sweep_aliases()
    shared.fingerprint_message(_login("alice", 1))  # fingerprinted only: no problem opened
    bob = services.record_sighting(_login("bob", 2), service="sso", at=T0)
    for n, user in enumerate(SIBLINGS):
        shared.fingerprint_message(_login(user, 10 + n))
    family = shared.resolve_alias(bob.fingerprint)
    assert family != bob.fingerprint  # alice's, which no problem holds

    assert services.sweep_aliases() == AliasSweep(read=3, tombstoned=1)

    tomb = Problem.objects.get(fingerprint=family)
    assert (tomb.merged_into_id, tomb.occurrence_count) == (bob.pk, 0)
    assert services.record_sighting(_login("zed", 40), service="auth").pk == bob.pk
    assert Problem.objects.filter(merged_into=None).count() == 1


def test_an_alias_without_a_problem_inserts_nothing(shared: Fingerprinter):
    services.sweep_aliases()
    for n, user in enumerate(["alice", "bob", *SIBLINGS]):
        shared.fingerprint_message(_login(user, n))  # a family forms; no problem was opened
    assert services.sweep_aliases() == AliasSweep(read=3)
    assert not Problem.objects.exists()
    # The family's own problem, opened after the merges, is left as it is.
    family = services.record_sighting(_login("zed", 99), service="auth")
    assert family.fingerprint == shared.resolve_alias(shared.aliases().popitem()[0])
    graph = _graph()
    shared.redis.delete(f"{shared._k_alias_log}:followed")
    assert services.sweep_aliases() == AliasSweep(read=3)
    assert _graph() == graph == [graph[0]]


@pytest.mark.parametrize("cursor", [None, "1-0"], ids=["never-swept", "log-trimmed"])
def test_a_sweep_that_cannot_trust_the_log_follows_every_alias(
    shared: Fingerprinter, cursor: str | None
):
    """A state from before the alias log (no cursor), or a log trimmed past the cursor."""
    alice, _ = _two_problems_then_a_family(shared)
    if cursor is None:
        shared.redis.delete(shared._k_alias_log)
    else:
        shared.set_alias_cursor(cursor)
    assert services.sweep_aliases() == AliasSweep(read=3, merged=1)
    assert Problem.objects.get(merged_into=None).pk == alice.pk
    assert services.sweep_aliases() == AliasSweep()  # the cursor now stands at the log's end


def test_a_sighting_that_forms_a_family_is_followed_after_it_commits(
    shared: Fingerprinter, django_capture_on_commit_callbacks
):
    alice = services.record_sighting(_login("alice", 1), service="auth", at=T0)
    services.record_sighting(_login("bob", 2), service="auth", at=T0)
    with django_capture_on_commit_callbacks(execute=True):
        for n, user in enumerate(SIBLINGS):
            services.record_sighting(_login(user, 10 + n), service="auth", at=T0)
    kept = Problem.objects.get(merged_into=None)
    assert kept.pk == alice.pk
    assert kept.occurrence_count == 2 + len(SIBLINGS)


@pytest.mark.django_db(transaction=True)
def test_concurrent_sweeps_and_sightings_leave_one_problem(shared: Fingerprinter):
    services.sweep_aliases()
    alice, _ = _two_problems_then_a_family(shared)
    workers = 6
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []
    sweeps: list[AliasSweep] = []

    def work(i: int) -> None:
        try:
            barrier.wait()
            if i % 2:
                sweeps.append(services.sweep_aliases())
            else:
                services.record_sighting(_login("bob", 50 + i), service="sso")
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    # However the threads interleaved (a bob sighting may open the family's problem first,
    # or merge itself), one problem remains, every other row points straight at it, and
    # every sighting counted once.
    kept = Problem.objects.get(merged_into=None)
    assert kept.pk == alice.pk
    assert kept.occurrence_count == 5 + workers // 2
    assert set(Problem.objects.exclude(pk=kept.pk).values_list("merged_into", flat=True)) == {
        kept.pk
    }
    assert sum(Occurrence.objects.filter(problem=kept).values_list("count", flat=True)) == 8
    assert not Occurrence.objects.exclude(problem=kept).exists()
    assert sum(s.read for s in sweeps) >= 3


def test_beat_runs_the_sweep_as_a_registered_task(shared: Fingerprinter):
    entry = settings.CELERY_BEAT_SCHEDULE["sweep-fingerprint-aliases"]
    assert entry["task"] == sweep_fingerprint_aliases.name
    assert entry["task"] in app.tasks
    _two_problems_then_a_family(shared)
    assert sweep_fingerprint_aliases.apply().get() == 1  # one merge
    assert Problem.objects.filter(merged_into=None).count() == 1
