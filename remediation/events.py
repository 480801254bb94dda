"""Announcing what remediation did: ``remediation.*`` events, published after commit, so a
rolled-back decision announces nothing."""

from __future__ import annotations

from typing import Any

from agents import mesh
from agents.events import Severity, system_event
from agents.system_events import RunChanged, SystemPayload
from remediation.models import RemediationRun


def announce(event_type: str, payload: SystemPayload, *, severity: Severity = "info") -> None:
    mesh.publish_on_commit(
        system_event(event_type, payload, instance="remediation", severity=severity)
    )


def run_changed(run: RemediationRun, **extra: Any) -> RunChanged:
    """The run as ``remediation.<status>`` events carry it; ``extra``: reason or detail."""
    return RunChanged(
        run=run.pk, rule=run.rule_id, diagnosis=run.diagnosis_id, status=run.status,
        service=run.service, instance=run.instance, signal=run.signal, action=run.action,
        risk=run.risk, confidence=run.confidence, preview=run.preview, **extra,
    )  # fmt: skip
