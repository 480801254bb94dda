"""The remediation engine: every change to a run goes through a function here.

Each function changes rows in one transaction (state by conditional UPDATE, an audit entry,
a transition row), then emits events and enqueues tasks *on commit*. Network calls to the
managed service happen outside transactions. Views, tasks, the agent and the admin call
these functions and never save runs themselves.

Crash safety of execution: the run is moved to ``running`` and an attempt row committed
*before* the action executes. ``execute_run`` is enqueued once, by whoever won the move to
``approved``; a delivery that finds the run still ``running`` therefore means the worker
that owned it died (Celery re-delivers with late ack). Such a run is never executed again
unless its action is idempotent; otherwise it is failed and escalated to a human.
"""

from remediation.engine.approvals import ApprovalError, approve, expire_due, reject
from remediation.engine.common import build_action
from remediation.engine.executing import attempt_is_dead, enqueue_execute, enqueue_verify, execute
from remediation.engine.proposing import matching_rules, propose, propose_for_diagnosis
from remediation.engine.verifying import adjust_threshold, verify

__all__ = [
    "ApprovalError",
    "adjust_threshold",
    "approve",
    "attempt_is_dead",
    "build_action",
    "enqueue_execute",
    "enqueue_verify",
    "execute",
    "expire_due",
    "matching_rules",
    "propose",
    "propose_for_diagnosis",
    "reject",
    "verify",
]
