"""ai_ops_solution_latency and ai_ops_remediation_verified, observed where the engine
verifies a run (a real control API, the real engine)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client import REGISTRY

from remediation import engine
from remediation.models import RunStatus
from tests.remediation.conftest import make_diagnosis, make_rule, set_safety

pytestmark = pytest.mark.django_db(transaction=True)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_verified_fix_observes_detection_to_verification_latency(control):
    make_rule(action="clear_cache")
    diagnosis = make_diagnosis(with_solution="clear_cache")
    diagnosis.created_at = timezone.now() - timedelta(seconds=100)
    diagnosis.save(update_fields=["created_at"])
    count, total = sample("ai_ops_solution_latency_count"), sample("ai_ops_solution_latency_sum")
    le_60, le_120 = (sample("ai_ops_solution_latency_bucket", le=b) for b in ("60.0", "120.0"))
    succeeded = sample("ai_ops_remediation_verified_total", outcome="succeeded")

    [run] = engine.propose_for_diagnosis(diagnosis.pk)

    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert sample("ai_ops_solution_latency_count") == count + 1
    assert sample("ai_ops_solution_latency_sum") - total == pytest.approx(100, abs=10)
    assert sample("ai_ops_solution_latency_bucket", le="60.0") == le_60
    assert sample("ai_ops_solution_latency_bucket", le="120.0") == le_120 + 1
    assert sample("ai_ops_remediation_verified_total", outcome="succeeded") == succeeded + 1


def test_a_failed_verification_counts_as_failed_and_observes_no_latency(control):
    set_safety(autonomy_mode="auto_up_to_medium")
    make_rule(action="scale_out", parameters={"replicas": 2}, risk="medium")
    diagnosis = make_diagnosis(with_solution="scale_out")
    control.health, control.signals = "unhealthy", {"import_timeout": 40}  # its symptom
    count = sample("ai_ops_solution_latency_count")
    failed = sample("ai_ops_remediation_verified_total", outcome="failed")

    engine.propose_for_diagnosis(diagnosis.pk)

    assert sample("ai_ops_remediation_verified_total", outcome="failed") == failed + 1
    assert sample("ai_ops_solution_latency_count") == count
