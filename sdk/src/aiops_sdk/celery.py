"""Celery: report task failures with their structured exception, and keep the log handler
attached when the worker takes over logging.

``connect(get_client)`` hooks ``task_failure`` (sent by the worker's tracer before it logs
``Task ... raised unexpected``; the log handler then skips that record: one exception, one
event). A worker with ``worker_hijack_root_logger`` (the default) empties the root
logger's handlers when it sets up logging; ``after_setup_logger`` and
``after_setup_task_logger`` put the handler back. ``aiops_sdk.django`` calls this for you
when Celery is installed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiops_sdk.base import ClientBase
from aiops_sdk.core import logger
from aiops_sdk.exceptions import exception_payload, first_report

_DISPATCH_UID = "aiops_sdk.celery"


def failure_payload(task_name: str, task_id: str | None, exception: BaseException, tb: Any) -> dict:
    """The ``log.line`` payload of one task failure."""
    return {
        "level": "ERROR",
        "message": f"Task {task_name} failed",
        "logger": "celery.task",
        "fields": {"task": task_name, "task_id": task_id},
        "exception": exception_payload(exception, tb),
    }


def connect(
    get_client: Callable[[], ClientBase],
    reattach_logging: Callable[[], Any] | None = None,
) -> None:
    """Hook task failures (and, given ``reattach_logging``, Celery's logging set-up)."""
    from celery import signals

    def on_failure(
        sender: Any = None,
        task_id: str | None = None,
        exception: BaseException | None = None,
        traceback: Any = None,
        **kwargs: Any,
    ) -> None:
        if exception is None or not first_report(exception):
            return
        try:
            name = str(getattr(sender, "name", sender))
            get_client().emit(
                "log.line",
                failure_payload(name, task_id, exception, traceback),
                severity="error",
                correlation_id=task_id,
            )
        except Exception:  # a task failure report must never break the worker
            logger.warning("could not report a task failure", exc_info=True)

    signals.task_failure.connect(on_failure, weak=False, dispatch_uid=_DISPATCH_UID)
    if reattach_logging is not None:

        def on_logging(**kwargs: Any) -> None:
            reattach_logging()

        for signal in (signals.after_setup_logger, signals.after_setup_task_logger):
            signal.connect(on_logging, weak=False, dispatch_uid=f"{_DISPATCH_UID}.logging")


def disconnect() -> None:
    from celery import signals

    signals.task_failure.disconnect(dispatch_uid=_DISPATCH_UID)
    for signal in (signals.after_setup_logger, signals.after_setup_task_logger):
        signal.disconnect(dispatch_uid=f"{_DISPATCH_UID}.logging")
