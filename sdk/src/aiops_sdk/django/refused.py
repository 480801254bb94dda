"""Requests Django refused before any view ran: a body past ``DATA_UPLOAD_MAX_MEMORY_SIZE``,
too many fields or files.

Django turns ``RequestDataTooBig``, ``TooManyFieldsSent`` and ``TooManyFilesSent`` (all
``SuspiciousOperation``) into a 400 inside its own exception wrapper, so a middleware only
sees the 400: ``process_exception`` is not called when the body is read by another
middleware (``CsrfViewMiddleware`` reads ``request.POST`` of every POST), and no signal is
sent. The one place Django hands the exception out is the record it logs to
``django.security.<ExceptionName>`` with the request in ``extra``; :class:`RefusalHook`
sits on that logger and pins the exception to the request, where the middleware reads it.

When the hook saw nothing (logging switched off, or a view answered 413 itself), a 400 or
413 whose ``Content-Length`` is over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` is exactly the request
Django refuses as ``RequestDataTooBig``, so :func:`refusal_of` names it so.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

from aiops_sdk.exceptions import exception_payload, first_report

#: Django logs each refused request here (as ``django.security.<ExceptionName>``).
SECURITY_LOGGER = "django.security"
#: Exceptions that mean "the request was too big or too many": the refusals reported.
REFUSALS = ("RequestDataTooBig", "TooManyFieldsSent", "TooManyFilesSent")
TOO_BIG_TYPE = "django.core.exceptions.RequestDataTooBig"
TOO_BIG_STATUSES = (400, 413)
_ATTR = "_aiops_refusal"


class RefusalHook(logging.Handler):
    """Pins the exception of a refused request to the request object; sends nothing.

    It marks the exception reported, so the log handler on the root logger skips Django's
    record of it: the middleware reports it once, with the request's route.
    """

    def __init__(self) -> None:
        super().__init__(logging.ERROR)

    def emit(self, record: logging.LogRecord) -> None:
        request = getattr(record, "request", None)
        exc = record.exc_info[1] if isinstance(record.exc_info, tuple) else None
        if request is None or exc is None or not is_refusal(exc):
            return
        try:
            pin(request, exc)
        except Exception:
            self.handleError(record)


def is_refusal(exc: BaseException) -> bool:
    return type(exc).__name__ in REFUSALS


def pin(request: HttpRequest, exc: BaseException) -> None:
    """Keep a refusal's exception on its request for the middleware (reported once)."""
    setattr(request, _ATTR, exc)
    first_report(exc)


def install_hook() -> None:
    """Add one :class:`RefusalHook` to Django's security logger (idempotent)."""
    security = logging.getLogger(SECURITY_LOGGER)
    if not any(isinstance(handler, RefusalHook) for handler in security.handlers):
        security.addHandler(RefusalHook())


def _content_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def refusal_of(request: HttpRequest, response: HttpResponseBase) -> dict[str, Any] | None:
    """The structured exception of a request Django refused as too big, or None."""
    exc = getattr(request, _ATTR, None)
    if exc is not None:
        return exception_payload(exc)
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    size = _content_length(request)
    if response.status_code in TOO_BIG_STATUSES and limit is not None and size > limit:
        return {
            "type": TOO_BIG_TYPE,
            "message": f"Request body of {size} bytes exceeded "
            f"settings.DATA_UPLOAD_MAX_MEMORY_SIZE ({limit} bytes).",
            "frames": [],
        }
    return None
