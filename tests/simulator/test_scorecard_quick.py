"""``manage.py scorecard --quick`` end to end: the real web, worker and beat processes on this
test run's database and Redis, the simulator in-process, faults injected one at a time.

Each fault must be detected, diagnosed with its true root cause, and either remediated by
the correct action with nobody approving it, or (the risky restart) waiting for one-click
approval; the healthy period must raise no alarm; the agents-disabled baseline must need a
human for every fault.
"""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from remediation.models import RemediationRun, RunStatus
from simulator import scenarios
from simulator.models import FaultInjection

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(900)]

RISKY = {"memory_leak"}  # its seeded rule (a rolling restart) requires approval


def test_quick_scorecard_detects_diagnoses_and_remediates_each_fault(tmp_path) -> None:
    report_path = tmp_path / "report.json"
    call_command("scorecard", "--quick", "--json", str(report_path), "--format", "json")
    report = json.loads(report_path.read_text())

    by_name = {row["scenario"]: row for row in report["scenarios"]}
    assert list(by_name) == list(scenarios.QUICK)
    for name in scenarios.QUICK:
        row, scenario = by_name[name], scenarios.get(name)
        if scenario.healthy:
            assert row["false_alarms"] == 0, row
            continue
        assert row["detected"], row
        assert row["detect_seconds"] < 30, row
        assert row["diagnosed_signal"] == scenario.root_cause, row
        if name in RISKY:
            assert row["awaiting_approval"] and not row["remediated"], row
            assert row["human_interventions"] == 1  # on-call fixed it: nobody approved
        else:
            assert row["automatic"] and row["recovered"], row
            assert row["human_interventions"] == 0
            assert row["recovery_seconds"] < 60

    # Ground truth was recorded for every injection, and what fixed each one.
    fixed = dict(
        FaultInjection.objects.exclude(root_cause="")
        .filter(run_label__startswith="scorecard")
        .order_by("started_at")
        .values_list("scenario", "fixed_by")[:3]
    )
    assert fixed == {"large_chrome_import": "control-api", "search_index_lost": "control-api",
                     "memory_leak": "human"}  # fmt: skip
    pending = RemediationRun.objects.get(status=RunStatus.AWAITING_APPROVAL)
    assert (pending.action, pending.signal) == ("restart_service", "high_memory_usage")

    # With every agent off, nothing fixed anything: each fault needed a human.
    assert [row["human_interventions"] for row in report["baseline"]] == [1, 1, 1]
    metrics = report["metrics"]
    assert metrics["human_interventions_agents_disabled"] == 3
    assert metrics["human_interventions"] == 1
    assert metrics["intervention_reduction"] == pytest.approx(2 / 3, abs=0.01)
    assert metrics["detection_rate"] == 1.0 and metrics["diagnosis_accuracy"] == 1.0
