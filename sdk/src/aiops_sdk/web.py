"""What every web integration reports, framework-free: ``api.request`` and the server error.

The Django middleware (:mod:`aiops_sdk.django.middleware`), the WSGI and ASGI middlewares
(:mod:`aiops_sdk.wsgi`, :mod:`aiops_sdk.asgi`) and the Flask hook (:mod:`aiops_sdk.flask`)
all build their events here, so a request to a Flask or FastAPI app reaches AI-Ops Core as
the same event a Django app sends: the monitor's per-endpoint series and the diagnostic
agent's exception grouping cannot tell them apart.

- ``api.request``: ``method``, ``endpoint`` (a route label, see :mod:`aiops_sdk.paths`),
  ``status``, ``latency_ms``; ``user_id`` when known, ``error_type`` when the app raised;
  severity ``error`` for a 5xx (or a refusal), correlation id from ``X-Correlation-ID`` /
  ``X-Request-ID``.
- the app's unhandled exception: one ``log.line`` at ERROR, ``Internal Server Error: GET
  /items/{id}``, with the structured exception (type, message, in-app frames). Each
  exception object is reported once (:func:`aiops_sdk.exceptions.first_report`): a server
  or framework logging it afterwards through the SDK's log handler is skipped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aiops_sdk.base import ClientBase
from aiops_sdk.core import logger
from aiops_sdk.exceptions import exception_payload, first_report, past_own_frames, type_name

CORRELATION_HEADERS = ("X-Correlation-ID", "X-Request-ID")
MAX_CORRELATION_CHARS = 200
MAX_PATH_CHARS = 500
UNKNOWN_ENDPOINT = "<unknown>"  # the framework's route could not be read


def correlation_id(header: Callable[[str], str | None]) -> str | None:
    """The first correlation header present, via ``header(name)`` (a case-insensitive
    lookup the caller provides: Django's ``request.headers.get``, a WSGI environ key...)."""
    for name in CORRELATION_HEADERS:
        value = header(name)
        if value:
            return value[:MAX_CORRELATION_CHARS]
    return None


def emit_request(
    client: ClientBase,
    *,
    method: str,
    endpoint: str,
    status: int,
    latency_ms: float,
    correlation: str | None,
    user_id: str | None = None,
    error_type: str | None = None,
    failed: bool | None = None,
    **extra: Any,
) -> None:
    """Emit one ``api.request``; never raises (telemetry must not fail the request)."""
    try:
        payload: dict[str, Any] = {
            "method": method or "GET",
            "endpoint": endpoint,
            "status": status,
            "latency_ms": round(latency_ms, 3),
            **extra,
        }
        if user_id is not None:
            payload["user_id"] = user_id
        if error_type is not None:
            payload["error_type"] = error_type
        failed = status >= 500 if failed is None else failed
        client.emit(
            "api.request",
            payload,
            severity="error" if failed else "info",
            correlation_id=correlation,
        )
    except Exception:
        logger.warning("could not emit api.request", exc_info=True)


def report_exception(
    client: ClientBase,
    exc: BaseException,
    *,
    method: str,
    endpoint: str,
    path: str,
    correlation: str | None,
    logger_name: str,
) -> None:
    """One ``log.line`` for an unhandled exception, unless it was reported already."""
    try:
        if not first_report(exc):
            return
        client.emit(
            "log.line",
            {
                "level": "ERROR",
                "message": f"Internal Server Error: {method} {endpoint}",
                "logger": logger_name,
                "fields": {"path": path[:MAX_PATH_CHARS], "endpoint": endpoint},
                "exception": exception_payload(exc, past_own_frames(exc.__traceback__)),
            },
            severity="error",
            correlation_id=correlation,
        )
    except Exception:
        logger.warning("could not report an exception", exc_info=True)


class Exchange:
    """One request in flight through a WSGI or ASGI middleware, reported once when it ends.

    The endpoint is asked of ``endpoint(status)`` only when needed (an exception, the end):
    frameworks decide the route while they handle the request. ``complete`` is called when
    the last byte of the body went out; ``finish`` when the app's call is over (the WSGI
    body closed, the ASGI coroutine returned or raised), and emits ``api.request`` with the
    latency up to the last byte (or to now, when the body never completed).
    """

    def __init__(
        self,
        client: ClientBase,
        *,
        method: str,
        path: str,
        correlation: str | None,
        endpoint: Callable[[int | None], str],
        logger_name: str,
    ) -> None:
        self.client = client
        self.method = method
        self.path = path
        self.correlation = correlation
        self.started = time.perf_counter()
        self.status: int | None = None
        self.error_type: str | None = None
        self._endpoint = endpoint
        self._logger_name = logger_name
        self._ended: float | None = None
        self._finished = False

    def complete(self) -> None:
        if self._ended is None:
            self._ended = time.perf_counter()

    def endpoint(self) -> str:
        """The request's label; ``<unknown>`` when the framework's route could not be read
        (telemetry must not fail the request)."""
        try:
            return self._endpoint(self.status)
        except Exception:
            logger.warning("could not label the endpoint", exc_info=True)
            return UNKNOWN_ENDPOINT

    def failed(self, exc: BaseException) -> None:
        """The app raised: a request whose body did not complete is a 500 (the client got
        none, or a truncated one); the exception goes out as a ``log.line``. After a
        complete, successful response (a background task failing) only the log line."""
        if self._ended is None:
            self.status = 500
        if self.status is not None and self.status >= 500 and self.error_type is None:
            self.error_type = type_name(type(exc))
        report_exception(
            self.client,
            exc,
            method=self.method,
            endpoint=self.endpoint(),
            path=self.path,
            correlation=self.correlation,
            logger_name=self._logger_name,
        )

    def finish(self, user_of: Callable[[], Any] = lambda: None) -> None:
        """Emit the request's ``api.request`` (once); ``user_of()`` names the signed-in user
        (the middleware's ``user_id`` hook, asked only now: auth runs inside the app)."""
        if self._finished:
            return
        self._finished = True
        ended = self._ended if self._ended is not None else time.perf_counter()
        status = self.status if self.status is not None else 500
        emit_request(
            self.client,
            method=self.method,
            endpoint=self.endpoint(),
            status=status,
            latency_ms=(ended - self.started) * 1000,
            correlation=self.correlation,
            user_id=_user_name(user_of),
            error_type=self.error_type,
        )


def _user_name(user_of: Callable[[], Any]) -> str | None:
    try:
        user = user_of()
    except Exception:
        logger.warning("could not name the user", exc_info=True)
        return None
    return None if user is None else str(user)
