"""The log handler bound to the shared client, and the one call that attaches it."""

from __future__ import annotations

from aiops_sdk.attach import attach_handler
from aiops_sdk.base import ClientBase
from aiops_sdk.django.conf import get_client
from aiops_sdk.logs import LogHandler


class AIOpsLogHandler(LogHandler):
    """``log.line`` for records >= ERROR, through the shared client (made on first use, so
    configuring logging starts no thread and opens no connection)."""

    def __init__(self, level: int | str = "ERROR", client: ClientBase | None = None) -> None:
        super().__init__(client, level)

    def get_client(self) -> ClientBase | None:
        return self._client or get_client()


def attach_logging(level: int | str = "ERROR") -> list[str]:
    """Attach one :class:`AIOpsLogHandler` to the root logger and every logger that does
    not propagate (see :mod:`aiops_sdk.attach`); returns the loggers it was added to."""
    return attach_handler(lambda: AIOpsLogHandler(level), AIOpsLogHandler)
