"""``ai_ops_errors``: every error-level log record, counted by the component that logged it.

Counting at the logging layer (a handler on the root logger, see ``LOGGING`` in settings)
catches every failure any part reports (an agent's loop, the engine, a request's 500, a
Celery task) without a counter call beside each ``logger.exception``. The component is the
logger name's first two dotted parts (``agents.runtime``, ``remediation.engine``,
``django.request``), which keeps the label's values few and stable.
"""

from __future__ import annotations

import logging

from prometheus_client import Counter

ERRORS = Counter("ai_ops_errors", "Error-level log records, by component", ["component"])


def component_of(logger_name: str) -> str:
    return ".".join(logger_name.split(".")[:2]) or "root"


class ErrorCountingHandler(logging.Handler):
    """Counts records at ERROR and above; writes nothing (the console handler logs them)."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)

    def emit(self, record: logging.LogRecord) -> None:
        ERRORS.labels(component_of(record.name)).inc()
