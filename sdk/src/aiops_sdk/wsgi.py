"""Any WSGI app (PEP 3333): Flask, Bottle, Falcon, Pyramid, a bare callable. Two lines::

    from aiops_sdk.wsgi import AIOpsMiddleware
    app.wsgi_app = AIOpsMiddleware(app.wsgi_app, client)  # Flask (app stays a Flask app)
    application = AIOpsMiddleware(application, client)    # any other WSGI callable

One ``api.request`` per request, the same event the Django middleware sends (see
:mod:`aiops_sdk.web`). The latency runs until the server closes the response body, so a
streamed response is timed to its last chunk. An exception out of the app (or out of its
body while it streams) is reported as a ``log.line`` with its in-app frames, counted as a
500, and re-raised for the server to handle as before.

Flask turns a view's exception into its own 500 page, so nothing reaches the middleware:
when the wrapped app is a Flask app (or its ``wsgi_app``), the middleware also connects to
Flask's ``got_request_exception`` signal (:mod:`aiops_sdk.flask`, imported only then).
Endpoint labels: Flask's matched ``url_rule`` (read from the Werkzeug request the app
leaves in ``environ["werkzeug.request"]``), else the normalised path
(:mod:`aiops_sdk.paths`). Nothing here imports a framework.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from aiops_sdk.base import ClientBase
from aiops_sdk.paths import DEFAULT_MAX_PATHS, PathLabels, rule_label
from aiops_sdk.web import Exchange, correlation_id

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]
UserOf = Callable[[Environ], Any]

#: Where the request in flight waits for the Flask hook (see :mod:`aiops_sdk.flask`).
EXCHANGE_KEY = "aiops.exchange"
LOGGER_NAME = "wsgi"


def remote_user(environ: Environ) -> str | None:
    """The CGI ``REMOTE_USER`` a server or auth middleware set, the WSGI default user id."""
    return environ.get("REMOTE_USER") or None


def _header(environ: Environ) -> Callable[[str], str | None]:
    return lambda name: environ.get("HTTP_" + name.upper().replace("-", "_"))


def _route_template(environ: Environ) -> str | None:
    """The matched route of a Werkzeug-based framework (Flask sets ``url_rule``)."""
    rule = getattr(environ.get("werkzeug.request"), "url_rule", None)
    text = getattr(rule, "rule", None)
    return rule_label(text) if isinstance(text, str) else None


class AIOpsMiddleware:
    """Report every request of the WSGI app it wraps to AI-Ops Core through ``client``.

    ``user_id(environ)`` names the signed-in user (default: ``REMOTE_USER``); ``max_paths``
    bounds the distinct labels made from raw paths (see :mod:`aiops_sdk.paths`).
    """

    def __init__(
        self,
        app: WSGIApp,
        client: ClientBase,
        *,
        user_id: UserOf = remote_user,
        max_paths: int = DEFAULT_MAX_PATHS,
    ) -> None:
        self.app = app
        self.client = client
        self.user_id = user_id
        self.paths = PathLabels(max_paths)
        _hook_flask(app)

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = (environ.get("SCRIPT_NAME") or "") + (environ.get("PATH_INFO") or "/")
        exchange = Exchange(
            self.client,
            method=str(environ.get("REQUEST_METHOD") or "GET"),
            path=path,
            correlation=correlation_id(_header(environ)),
            endpoint=lambda status: _route_template(environ) or self.paths.label(path, status),
            logger_name=LOGGER_NAME,
        )
        environ[EXCHANGE_KEY] = exchange

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            try:
                exchange.status = int(status.split(" ", 1)[0])
            except ValueError:
                exchange.status = 500
            if exc_info is None:
                return start_response(status, headers)
            return start_response(status, headers, exc_info)

        def finish() -> None:
            exchange.finish(lambda: self.user_id(environ))

        try:
            body = self.app(environ, start)
        except Exception as exc:
            exchange.failed(exc)
            finish()
            raise
        return _Body(body, exchange, finish)


class _Body:
    """The app's response body, passed through chunk by chunk; reports when closed.

    PEP 3333 servers call ``close()`` once the body is sent, or when the client went away.
    """

    def __init__(self, body: Iterable[bytes], exchange: Exchange, done: Callable[[], None]):
        self._body = body
        self._exchange = exchange
        self._done = done

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._body
        except Exception as exc:
            self._exchange.failed(exc)
            raise
        self._exchange.complete()

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        except Exception as exc:
            self._exchange.failed(exc)
            raise
        finally:
            self._exchange.complete()
            self._done()


def _hook_flask(app: Any) -> None:
    """Connect the Flask hook when ``app`` is a Flask app or its bound ``wsgi_app``; only
    when Flask is already imported (so never imports it)."""
    flask = sys.modules.get("flask")
    owner = getattr(app, "__self__", app)
    if flask is not None and isinstance(owner, flask.Flask):
        from aiops_sdk.flask import connect

        connect(owner)
