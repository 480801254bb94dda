"""record_sighting: problem upsert on first sight, minute buckets on every sight, events."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connections

from agents.events import Event
from agents.mesh import EVENT_FIELD
from knowledge import services
from knowledge.models import OCCURRENCE_EVENT_IDS_CAP, Occurrence, Problem, ProblemStatus

from .conftest import IMPORT_TIMEOUT, T0

pytestmark = pytest.mark.django_db


def test_first_sight_creates_an_embedded_problem():
    problem = services.record_sighting(
        IMPORT_TIMEOUT, service="import-worker", instance="w1", event_ids=["e1"], at=T0
    )
    assert problem.occurrence_count == 1
    assert problem.services == ["import-worker"]
    assert problem.embedding is not None and len(problem.embedding) == 384
    assert problem.embedding_provider
    assert problem.first_seen == T0 == problem.last_seen
    assert problem.error_patterns == [IMPORT_TIMEOUT]


def test_repeated_sightings_collapse_into_one_bucket_row():
    for i in range(50):
        message = IMPORT_TIMEOUT.replace("8f3a2c", f"job{i:04d}")
        services.record_sighting(
            message,
            service="import-worker",
            instance="w1",
            event_ids=[f"e{i}"],
            at=T0 + timedelta(seconds=i % 50),
        )
    problem = Problem.objects.get()
    assert problem.occurrence_count == 50
    bucket = Occurrence.objects.get()
    assert bucket.count == 50
    assert bucket.at == T0.replace(second=0)
    assert bucket.event_ids == [f"e{i}" for i in range(OCCURRENCE_EVENT_IDS_CAP)]


def test_counts_add_up_and_buckets_split_by_minute_and_instance():
    services.record_sighting(IMPORT_TIMEOUT, service="import-worker", instance="w1", at=T0, count=7)
    services.record_sighting(IMPORT_TIMEOUT, service="import-worker", instance="w2", at=T0)
    services.record_sighting(
        IMPORT_TIMEOUT, service="web", instance="w1", at=T0 + timedelta(minutes=1)
    )
    problem = Problem.objects.get()
    assert problem.occurrence_count == 9
    assert sorted(problem.services) == ["import-worker", "web"]
    assert problem.last_seen == T0 + timedelta(minutes=1)
    rows = sorted(Occurrence.objects.values_list("instance", "service", "count"))
    assert rows == [("w1", "import-worker", 7), ("w1", "web", 1), ("w2", "import-worker", 1)]


def test_a_resolved_problem_seen_again_reopens():
    problem = services.record_sighting(IMPORT_TIMEOUT, at=T0)
    services.set_problem_status([problem], ProblemStatus.RESOLVED)
    problem = services.record_sighting(IMPORT_TIMEOUT, at=T0)
    assert problem.status == ProblemStatus.OPEN


def test_events_are_published_after_commit(clean_redis, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.record_sighting(IMPORT_TIMEOUT, service="import-worker", at=T0)
        services.record_sighting(IMPORT_TIMEOUT, service="import-worker", at=T0)  # same bucket
        services.record_sighting(
            IMPORT_TIMEOUT, service="import-worker", at=T0 + timedelta(minutes=2)
        )
    created = clean_redis.xrange("events:problem.created")
    updated = clean_redis.xrange("events:problem.updated")
    assert len(created) == 1 and len(updated) == 1
    event = Event.from_json(created[0][1][EVENT_FIELD.encode()])
    assert event.payload["title"] and event.payload["problem_id"] == Problem.objects.get().pk


def test_nothing_is_published_before_commit(clean_redis, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.record_sighting(IMPORT_TIMEOUT, at=T0)
    assert len(callbacks) == 1
    assert clean_redis.xlen("events:problem.created") == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_sightings_create_one_problem():
    workers = 8
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def sight(i: int) -> None:
        try:
            barrier.wait()
            services.record_sighting(
                IMPORT_TIMEOUT, service="import-worker", instance=f"w{i}", event_ids=[f"e{i}"]
            )
        except BaseException as exc:  # reported below, with the thread's traceback
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sight, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    problem = Problem.objects.get()
    assert problem.occurrence_count == workers
    assert Occurrence.objects.filter(problem=problem).count() == workers


def test_a_redelivered_event_counts_once():
    """A worker that died between committing a sighting and acknowledging its event has the
    event delivered again: the problem's count must not move."""
    first = services.record_sighting(
        IMPORT_TIMEOUT, service="import-worker", event_ids=["r1", "r2"], at=T0
    )
    again = services.record_sighting(
        IMPORT_TIMEOUT, service="import-worker", event_ids=["r1", "r2"], at=T0
    )
    partly = services.record_sighting(
        IMPORT_TIMEOUT, service="import-worker", event_ids=["r2", "r3"], at=T0
    )

    assert first.occurrence_count == 2
    assert again.pk == first.pk and again.occurrence_count == 2
    assert partly.occurrence_count == 3
    assert Occurrence.objects.get(problem=first).count == 3


def test_counted_events_are_forgotten_past_the_horizon():
    services.record_sighting(IMPORT_TIMEOUT, event_ids=["old"], at=T0)

    pruned = services.prune_counted_events(T0 + timedelta(hours=1))
    again = services.record_sighting(IMPORT_TIMEOUT, event_ids=["old"], at=T0)

    assert pruned == 1
    assert again.occurrence_count == 2
