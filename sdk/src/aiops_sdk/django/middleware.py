"""``api.request`` per request, and a view's unhandled exception with its in-app frames."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponseBase

from aiops_sdk.core import logger
from aiops_sdk.django.conf import get_client
from aiops_sdk.django.refused import install_hook, is_refusal, pin, refusal_of
from aiops_sdk.django.routes import endpoint_of, view_label
from aiops_sdk.exceptions import type_name
from aiops_sdk.web import CORRELATION_HEADERS, correlation_id, emit_request, report_exception

__all__ = ["CORRELATION_HEADERS", "AIOpsRequestMiddleware"]
_ERROR_ATTR = "_aiops_exception_type"


def _correlation_id(request: HttpRequest) -> str | None:
    return correlation_id(request.headers.get)


def _user_id(user: Any) -> str | None:
    return str(user.pk) if user is not None and user.is_authenticated else None


class AIOpsRequestMiddleware:
    """Emit one ``api.request`` per request: method, endpoint (route label), status,
    latency_ms, the DRF view (``bookmark.create``) when there is one and, when
    authenticated, user_id. Put it first in ``MIDDLEWARE`` so the latency covers the whole
    stack. Works under WSGI and ASGI without thread hops.

    A view that raises is reported as a ``log.line`` carrying the structured exception
    (type, message, in-app frames) from ``process_exception``, before Django logs its
    ``Internal Server Error`` line (which the log handler then skips: one exception, one
    event). A request Django refused for its upload limits (``RequestDataTooBig`` and
    kin, answered 400 before any view ran; see :mod:`aiops_sdk.django.refused`) is an
    error too: ``error_type`` on its ``api.request`` and a ``log.line`` with the exception.
    """

    sync_capable = True
    async_capable = True

    def __init__(
        self, get_response: Callable[[HttpRequest], HttpResponseBase | Awaitable[HttpResponseBase]]
    ) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)
        get_client()  # a misconfiguration fails at start-up, not on the first request
        install_hook()

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        started = time.perf_counter()
        response = self.get_response(request)
        self._emit(request, response, started, _user_id(getattr(request, "user", None)))
        return response

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        started = time.perf_counter()
        response = await self.get_response(request)
        auser = getattr(request, "auser", None)
        user = await auser() if auser is not None else None
        self._emit(request, response, started, _user_id(user))
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        """Report the view's exception; returns None so Django's handling goes on."""
        try:
            if is_refusal(exception):
                # A view read a body past the upload limits: Django answers 400, and the
                # response is reported as a refusal (see _emit), not as a server error.
                pin(request, exception)
                return
            setattr(request, _ERROR_ATTR, type_name(type(exception)))
            report_exception(
                get_client(),
                exception,
                method=request.method or "GET",
                endpoint=endpoint_of(request),
                path=request.path,
                correlation=_correlation_id(request),
                logger_name="django.request",
            )
        except Exception:
            logger.warning("could not report an exception", exc_info=True)

    def _emit(
        self,
        request: HttpRequest,
        response: HttpResponseBase,
        started: float,
        user_id: str | None,
    ) -> None:
        try:
            endpoint = endpoint_of(request)
            view = view_label(request)
            error_type = getattr(request, _ERROR_ATTR, None)
            refusal = refusal_of(request, response) if 400 <= response.status_code < 500 else None
            if refusal is not None:
                error_type = refusal["type"]
                self._report_refusal(request, endpoint, refusal)
            emit_request(
                get_client(),
                method=request.method or "GET",
                endpoint=endpoint,
                status=response.status_code,
                latency_ms=(time.perf_counter() - started) * 1000,
                correlation=_correlation_id(request),
                user_id=user_id,
                error_type=error_type,
                failed=response.status_code >= 500 or refusal is not None,
                **({"view": view} if view is not None else {}),
            )
        except Exception:
            # Telemetry must never fail the request it describes.
            logger.warning("could not emit api.request", exc_info=True)

    def _report_refusal(self, request: HttpRequest, endpoint: str, refusal: dict) -> None:
        get_client().emit(
            "log.line",
            {
                "level": "ERROR",
                "message": f"Request refused (upload limits): {request.method} {endpoint}",
                "logger": "django.security",
                "fields": {"path": request.path[:500], "endpoint": endpoint},
                "exception": refusal,
            },
            severity="error",
            correlation_id=_correlation_id(request),
        )
