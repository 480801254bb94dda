"""Flask: the view's exception, which Flask answers with its own 500 page.

Flask catches a view's unhandled exception, sends ``got_request_exception`` and returns a
500 response, so a WSGI middleware sees only the 500. The receiver connected here hands the
exception to the request's :class:`aiops_sdk.web.Exchange` (left in the environ by
:class:`aiops_sdk.wsgi.AIOpsMiddleware`): one ``log.line`` with the exception's type and
in-app frames, and ``error_type`` on the request's ``api.request``. The signal is sent
before Flask logs the exception, so the SDK's log handler then skips that record.

:class:`~aiops_sdk.wsgi.AIOpsMiddleware` connects it by itself when it wraps a Flask app or
its ``wsgi_app``; :func:`instrument` does the wrapping in one call. Importing this module
imports Flask.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, got_request_exception, request

from aiops_sdk.base import ClientBase
from aiops_sdk.paths import DEFAULT_MAX_PATHS
from aiops_sdk.wsgi import EXCHANGE_KEY, AIOpsMiddleware, UserOf, remote_user


def instrument(
    app: Flask,
    client: ClientBase,
    *,
    user_id: UserOf = remote_user,
    max_paths: int = DEFAULT_MAX_PATHS,
) -> Flask:
    """Wrap ``app.wsgi_app`` in the middleware (so ``app`` stays a Flask app); returns it."""
    app.wsgi_app = AIOpsMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, client, user_id=user_id, max_paths=max_paths
    )
    return app


def connect(app: Flask) -> None:
    """Report ``app``'s unhandled view exceptions (idempotent: one receiver per app)."""
    got_request_exception.connect(_on_exception, app, weak=False)


def _on_exception(sender: Flask, exception: BaseException, **_: Any) -> None:
    exchange = request.environ.get(EXCHANGE_KEY)
    if exchange is not None:
        exchange.failed(exception)
