"""Approvals: one-click approve or reject by a user holding the permission; expiry."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from remediation import audit, events
from remediation.actions import action_title
from remediation.engine.common import reopen_incident, step
from remediation.engine.executing import enqueue_execute
from remediation.models import (
    APPROVE_PERMISSION,
    Approval,
    Decision,
    RemediationRun,
    RunStatus,
)

logger = logging.getLogger(__name__)


class ApprovalError(Exception):
    """The decision cannot be taken (not awaiting approval, expired, already decided)."""


def _require_permission(user: Any) -> None:
    if not (user and user.is_authenticated and user.has_perm(APPROVE_PERMISSION)):
        raise PermissionDenied(f"approving remediation runs needs {APPROVE_PERMISSION}")


def approve(run: RemediationRun | int, user: Any) -> RemediationRun:
    """Record an approval; the one that completes the quorum moves the run to approved and
    enqueues its execution. Concurrent approvers are serialised by the row lock."""
    _require_permission(user)
    expired = False
    with transaction.atomic():
        locked = RemediationRun.objects.select_for_update().get(pk=getattr(run, "pk", run))
        if locked.status != RunStatus.AWAITING_APPROVAL:
            raise ApprovalError(f"run {locked.pk} is {locked.status}, not awaiting approval")
        if locked.is_expired():
            expired = _expire(locked)
        else:
            if locked.approvals.filter(user=user).exists():
                raise ApprovalError("you already decided on this run")
            Approval.objects.create(run=locked, user=user, decision=Decision.APPROVE)
            count = locked.approvals.filter(decision=Decision.APPROVE).count()
            quorum = (
                f" ({count} of {locked.approvals_required})"
                if locked.approvals_required > 1
                else ""
            )
            step(locked, f"Approved by {user.get_username()}{quorum}", actor=user)
            audit.record(
                "run.approval", run=locked, rule=locked.rule_id, actor=user,
                approvals=count, required=locked.approvals_required,
            )  # fmt: skip
            if count >= locked.approvals_required:
                locked.transition(RunStatus.APPROVED, actor=user, reason="approved")
                # Every operator's screen hears the decision, not only the one who clicked.
                events.announce("remediation.approved", events.run_changed(locked))
                enqueue_execute(locked.pk)
    if expired:
        raise ApprovalError(f"run {locked.pk} expired before it was approved")
    return locked


def reject(run: RemediationRun | int, user: Any, reason: str = "") -> RemediationRun:
    _require_permission(user)
    with transaction.atomic():
        locked = RemediationRun.objects.select_for_update().get(pk=getattr(run, "pk", run))
        if locked.status != RunStatus.AWAITING_APPROVAL:
            raise ApprovalError(f"run {locked.pk} is {locked.status}, not awaiting approval")
        if locked.approvals.filter(user=user).exists():
            raise ApprovalError("you already decided on this run")
        Approval.objects.create(run=locked, user=user, decision=Decision.REJECT, reason=reason)
        locked.transition(RunStatus.REJECTED, actor=user, reason=reason or "rejected")
        why = f": {reason}" if reason else ""
        reopen_incident(
            locked, f"“{action_title(locked.action)}” rejected by {user.get_username()}{why}"
        )
        audit.record("run.rejected", run=locked, rule=locked.rule_id, actor=user, reason=reason)
        events.announce("remediation.rejected", events.run_changed(locked))
    return locked


def _expire(run: RemediationRun) -> bool:
    if run.transition(RunStatus.EXPIRED, reason="no decision in time"):
        reopen_incident(
            run, f"Nobody decided on “{action_title(run.action)}” in time; the prompt expired"
        )
        audit.record("run.expired", run=run, rule=run.rule_id, expires_at=str(run.expires_at))
        events.announce("remediation.expired", events.run_changed(run))
        return True
    return False


def expire_due() -> int:
    """Expire runs whose approval window passed; returns how many this call expired."""
    expired = 0
    due = RemediationRun.objects.filter(
        status=RunStatus.AWAITING_APPROVAL, expires_at__lte=timezone.now()
    )
    for run in due:
        with transaction.atomic():
            expired += _expire(run)
    return expired
