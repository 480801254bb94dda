"""A ``logging`` handler that sends error records as ``log.line`` events.

No Django here: ``LogHandler(client)`` works in any service; ``aiops_sdk.django`` adds the
variant that finds the project's shared client on its own.
"""

from __future__ import annotations

import logging
import threading
import traceback
from datetime import UTC, datetime
from typing import Any

from aiops_sdk.base import ClientBase
from aiops_sdk.core import THREAD_PREFIX
from aiops_sdk.exceptions import already_reported, exception_payload, first_report

MAX_MESSAGE_CHARS = 8_000
MAX_TRACEBACK_CHARS = 32_000
# Records from these loggers are never sent: the SDK's own warnings about a failing flush
# would otherwise become events that fail to flush, and so on.
IGNORED_LOGGERS = ("aiops_sdk",)
_RESERVED = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class LogHandler(logging.Handler):
    """Emit ``log.line`` for records at ``level`` (ERROR by default) and above.

    It never raises into the caller (failures go to ``handleError``) and never recurses: the
    SDK's loggers, its threads, and records logged while this handler is already running
    in the same thread are all ignored. A record whose exception was already reported (by
    the middleware or the task-failure hook, before Django or Celery logged it) is skipped:
    one exception, one event.
    """

    def __init__(self, client: ClientBase | None = None, level: int | str = logging.ERROR) -> None:
        super().__init__(level)
        self._client = client
        self._local = threading.local()

    def get_client(self) -> ClientBase | None:
        return self._client

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(self._local, "busy", False) or _is_own(record):
            return
        exc = _exception_of(record)
        if already_reported(exc):
            return
        self._local.busy = True
        try:
            client = self.get_client()
            if client is not None:
                if exc is not None:
                    first_report(exc)
                client.emit(
                    "log.line",
                    log_payload(record),
                    severity="critical" if record.levelno >= logging.CRITICAL else "error",
                    correlation_id=_str_or_none(getattr(record, "correlation_id", None)),
                    timestamp=datetime.fromtimestamp(record.created, UTC),
                )
        except Exception:
            # Prints to stderr (when logging.raiseExceptions); never raises.
            self.handleError(record)
        finally:
            self._local.busy = False


def _is_own(record: logging.LogRecord) -> bool:
    return record.name.startswith(IGNORED_LOGGERS) or (record.threadName or "").startswith(
        THREAD_PREFIX
    )


def _exception_of(record: logging.LogRecord) -> BaseException | None:
    if record.exc_info and isinstance(record.exc_info, tuple):
        return record.exc_info[1]
    return None


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)[:200]


def log_payload(record: logging.LogRecord) -> dict[str, Any]:
    """The ``log.line`` payload: level, message, logger, and what helps a diagnosis in fields."""
    try:
        message = record.getMessage()
    except Exception:  # a bad format string in the caller's log call must not lose the record
        message = str(record.msg)
    fields: dict[str, Any] = {
        "module": record.module,
        "function": record.funcName,
        "line": record.lineno,
        "process": record.process,
        "thread": record.threadName,
    }
    if record.exc_info and record.exc_info[0] is not None:
        exc_type, exc, tb = record.exc_info
        fields["exception_type"] = f"{exc_type.__module__}.{exc_type.__qualname__}".removeprefix(
            "builtins."
        )
        fields["exception_message"] = str(exc)[:MAX_MESSAGE_CHARS]
        fields["traceback"] = "".join(traceback.format_exception(exc_type, exc, tb))[
            -MAX_TRACEBACK_CHARS:
        ]
    elif record.exc_text:
        fields["traceback"] = record.exc_text[-MAX_TRACEBACK_CHARS:]
    # `extra={...}` values: structured context the caller chose to attach.
    for key, value in vars(record).items():
        if key not in _RESERVED and key not in fields and not key.startswith("_"):
            plain = isinstance(value, str | int | float | bool | None)
            fields[key] = value if plain else repr(value)
    payload: dict[str, Any] = {
        "level": record.levelname,
        "message": message[:MAX_MESSAGE_CHARS] or "(empty message)",
        "logger": record.name,
        "fields": fields,
    }
    exc = _exception_of(record)
    if exc is not None:
        payload["exception"] = exception_payload(exc, record.exc_info[2])  # type: ignore[index]
    return payload
