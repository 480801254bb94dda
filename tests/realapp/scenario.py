"""The full real-application scenario (``benchmarks/bench_real_app.py`` runs this file).

Not collected by ``make test`` (its name does not start with ``test_``); it prints figures.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime

import pytest

from agents.models import Anomaly
from knowledge.models import Diagnosis
from tests.realapp.harness import SERVICE, Operations, verdict

pytestmark = pytest.mark.django_db(transaction=True)
WARMUP = float(os.environ.get("REALAPP_WARMUP", "600"))
HEALTHY = float(os.environ.get("REALAPP_HEALTHY", "600"))
RECOVERY = float(os.environ.get("REALAPP_RECOVERY", "300"))


def healthy(ops: Operations, app, seconds: float) -> tuple[int, float]:
    """Healthy traffic with a burst every 45 s; returns (false alarms, seconds)."""
    since = datetime.now(UTC)
    began = time.monotonic()
    while time.monotonic() - began < seconds:
        app.spike()
        ops.pump(min(45, seconds - (time.monotonic() - began)))
    alarms = Diagnosis.objects.filter(service=SERVICE, created_at__gte=since).count()
    alarms += Anomaly.objects.filter(detected_at__gte=since).count()
    return alarms, seconds


def test_scenario(site):
    ops = Operations()
    site.start_traffic()
    ops.pump(60)  # the first minute after onboarding
    alarms, span = healthy(ops, site, WARMUP)

    results = []
    for name, expected, run in (
        ("locked database", "database-contention", lambda s: site.lock_database(s)),
        ("upstream hangs", "upstream-dependency", lambda s: site.hang_upstream(s)),
        ("deploy raises", "deploy-regression", lambda s: site.bad_deploy("2.0")),
        ("huge uploads", "oversized-work", lambda s: site.huge_uploads()),
    ):
        start = time.time()
        thread = threading.Thread(target=run, args=(30,))
        thread.start()
        ops.pump(30)
        thread.join()
        ops.pump(30)
        end = time.time()
        if expected == "deploy-regression":
            site.roll_back("2.1")
        results.append((name, verdict(start, end, expected, grace=0)))
        ops.pump(RECOVERY)  # recovery: the next fault is its own incident
    more, more_span = healthy(ops, site, HEALTHY)
    alarms, span = alarms + more, span + more_span

    print("\nreal application: wagtail site (wagtail start), 4 faults injected from outside")
    for name, found in results:
        print(f"  {name:16} detected after {found['detected_after']} s, "
              f"problems {found['problems']}, diagnoses {found['diagnoses']}, "
              f"top {found['top_class'] or '-'} ({found['confidence']:.2f}), "
              f"{'right' if found['right'] else 'wrong'}")  # fmt: skip
    detected = sum(1 for _, f in results if f["detected_after"] is not None
                   and f["detected_after"] <= 60)  # fmt: skip
    right = [f for _, f in results if f["right"]]
    wrong = [f["confidence"] for _, f in results if not f["right"]]
    print(f"faults detected within 60 s: {detected}/{len(results)}")
    print(f"problems per fault: {[f['problems'] for _, f in results]}")
    print(f"right cause class as top hypothesis: {len(right)}/{len(results)}")
    print(f"confidence when wrong: {wrong}")
    print(f"false alarms per healthy hour: {alarms * 3600 / span:.2f} ({alarms} in {span:.0f} s)")
