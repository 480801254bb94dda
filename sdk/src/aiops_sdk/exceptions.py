"""Structured exceptions: type, message and the in-app stack frames, for grouping.

AI-Ops Core groups errors the way Sentry does: by the exception's type and the in-app
frames it went through (``module:function``, no line numbers), not by the log message.
Django logs every unhandled exception as ``Internal Server Error: /path``; three different
bugs behind that message are three problems only if the exception travels with it.

A frame is *in-app* when its file is not in the standard library or an installed package
(``site-packages``/``dist-packages``) and its module is not the SDK's own. Each exception
is reported once: the middleware, the task-failure hook and the log handler may all see
the same exception object (Django and Celery log what they just reported), so the first
report marks it and the others skip it.
"""

from __future__ import annotations

import linecache
import sysconfig
from types import TracebackType
from typing import Any

MAX_FRAMES = 30
MAX_MESSAGE_CHARS = 2_000
MAX_CONTEXT_CHARS = 300
_REPORTED = "__aiops_reported__"
_LIBRARY_MARKERS = ("/site-packages/", "/dist-packages/", "<frozen ", "<string>")
_LIBRARY_ROOTS = tuple(
    {
        path.rstrip("/") + "/"
        for name in ("stdlib", "platstdlib")
        if (path := sysconfig.get_paths().get(name))
    }
)
_OWN_MODULES = ("aiops_sdk",)


def type_name(exc_type: type[BaseException]) -> str:
    """``module.QualName``, with builtins bare (``KeyError``, not ``builtins.KeyError``)."""
    return f"{exc_type.__module__}.{exc_type.__qualname__}".removeprefix("builtins.")


def is_in_app(module: str, filename: str) -> bool:
    if module.startswith(_OWN_MODULES):
        return False
    if any(marker in filename for marker in _LIBRARY_MARKERS):
        return False
    return not filename.startswith(_LIBRARY_ROOTS)


def frames_of(tb: TracebackType | None) -> list[dict[str, Any]]:
    """The traceback's frames, outermost first, the innermost ``MAX_FRAMES`` kept."""
    frames: list[dict[str, Any]] = []
    while tb is not None:
        frame, lineno = tb.tb_frame, tb.tb_lineno
        code = frame.f_code
        module = str(frame.f_globals.get("__name__", ""))
        frames.append(
            {
                "module": module,
                "function": code.co_qualname,
                "lineno": lineno,
                "context_line": linecache.getline(code.co_filename, lineno).strip()[
                    :MAX_CONTEXT_CHARS
                ],
                "in_app": is_in_app(module, code.co_filename),
            }
        )
        tb = tb.tb_next
    return frames[-MAX_FRAMES:]


def past_own_frames(tb: TracebackType | None) -> TracebackType | None:
    """The traceback from its first frame outside the SDK: a middleware that catches an
    exception is the outermost frame of its traceback, and is no part of what failed."""
    while tb is not None and str(tb.tb_frame.f_globals.get("__name__", "")).startswith(
        _OWN_MODULES
    ):
        tb = tb.tb_next
    return tb


def exception_payload(exc: BaseException, tb: TracebackType | None = None) -> dict[str, Any]:
    """The ``exception`` object of a ``log.line`` / ``import.failed`` payload."""
    try:
        message = str(exc)
    except Exception:  # a broken __str__ must not lose the report
        message = repr(exc)
    return {
        "type": type_name(type(exc)),
        "message": message[:MAX_MESSAGE_CHARS],
        "frames": frames_of(tb if tb is not None else exc.__traceback__),
    }


def first_report(exc: BaseException) -> bool:
    """True the first time an exception object is reported (and marks it); False after."""
    if getattr(exc, _REPORTED, False):
        return False
    try:
        setattr(exc, _REPORTED, True)
    except Exception:  # an exception type refusing attributes: report it, unmarked
        return True
    return True


def already_reported(exc: BaseException | None) -> bool:
    return exc is not None and bool(getattr(exc, _REPORTED, False))
