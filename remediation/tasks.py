"""Celery tasks of remediation. They take run ids and call the engine; all are idempotent:
the engine's conditional transitions make a redelivered task a no-op (or a recovery)."""

from __future__ import annotations

from celery import shared_task

from remediation import audit_status, engine
from remediation import notify as notifications
from remediation.engine import quieting


@shared_task(name="remediation.tasks.execute_run", acks_late=True, ignore_result=True)
def execute_run(run_id: int) -> str:
    """Late ack: a worker killed mid-task gets the task redelivered, and the engine then
    finds the run ``running`` and recovers it without executing a non-idempotent action twice."""
    return engine.execute(run_id)


@shared_task(name="remediation.tasks.verify_run", acks_late=True, ignore_result=True)
def verify_run(run_id: int) -> str:
    return engine.verify(run_id)


@shared_task(name="remediation.tasks.expire_approvals", ignore_result=True)
def expire_approvals() -> int:
    return engine.expire_due()


@shared_task(name="remediation.tasks.resolve_quiet_incidents", ignore_result=True)
def resolve_quiet_incidents() -> int:
    """The quiet rule (scheduled by beat each minute); idempotent: a resolved incident is
    no longer a candidate, and an acknowledged one is noted once per quiet spell."""
    return len(quieting.resolve_quiet_incidents().resolved)


@shared_task(name="remediation.tasks.verify_audit_chain", ignore_result=True)
def verify_audit_chain() -> bool:
    """Walk the hash chain and store the verdict for /metrics (alert AuditChainBroken)."""
    return audit_status.check_and_store()["valid"]


@shared_task(name="remediation.tasks.notify", ignore_result=True)
def notify(kind: str, incident_id: int, run_id: int | None = None) -> dict[str, str]:
    """Webhook and e-mail for one incident change; failures are logged inside, never raised
    (a retry could repeat a message that did go out on the other channel)."""
    return notifications.deliver(kind, incident_id, run_id)  # type: ignore[arg-type]
