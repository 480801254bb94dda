"""A real open-source Django application (a Wagtail site from PyPI) under AI-Ops, end to end.

The site runs in its own process with the SDK installed as ``docs/sdk.md`` says and reports
to the live ingest API; the monitor and diagnostic agents read the real mesh. Two faults are
injected from outside the app (the short version of ``benchmarks/bench_real_app.py``):
another session holding exclusive locks on the tables its pages read (its requests fail on
PostgreSQL's lock timeout), and its cache server's connection hanging. Each must be
detected within 60 s, make one diagnosis (at most three problems) and get the right cause
class as its top hypothesis.
"""

from __future__ import annotations

import threading
import time

import pytest

from tests.realapp.harness import Operations, verdict

pytestmark = pytest.mark.django_db(transaction=True)


def inject(ops: Operations, fault, seconds: float, after: float) -> tuple[float, float]:
    start = time.time()
    thread = threading.Thread(target=fault, args=(seconds,))
    thread.start()
    ops.pump(seconds)
    thread.join()
    ops.pump(after)
    return start, start + seconds


def test_a_wagtail_site_faults_are_detected_and_diagnosed_by_cause(site):
    ops = Operations()
    site.start_traffic()
    ops.pump(35)  # onboarding: the first events are all the history there is

    lock = inject(ops, site.lock_database, 15, after=8)
    hang = inject(ops, site.hang_upstream, 15, after=8)

    for (start, end), cause in ((lock, "database-contention"), (hang, "upstream-dependency")):
        found = verdict(start, end, cause, grace=10)
        assert found["detected_after"] is not None and found["detected_after"] <= 60, found
        # One incident per cause; the exception may be grouped by where it was raised (a
        # cache read and a cache write are two problems), never more than three.
        assert found["diagnoses"] == 1 and 1 <= found["problems"] <= 3, found
        assert found["right"], found
