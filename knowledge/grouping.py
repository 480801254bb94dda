"""Which sightings are one problem: by exception when there is one, else by the message
with its data stripped.

The anchor is Sentry's grouping. An error that carries a structured exception (the SDK
sends ``{"type", "message", "frames": [{"module", "function", "lineno", "context_line",
"in_app"}]}``) is grouped by its type and the in-app frames it went through, as
``module:function`` without line numbers (an edit above a function must not split its
problem; a different caller must). The log message plays no part then: Django logs every
unhandled exception as ``Internal Server Error: /path``, so three bugs behind that message
are three problems, and one bug reached from different paths or messages is one. With no
in-app frame the whole stack is used; with no frame at all the exception falls back to the
template miner on ``type: message``.

Without an exception the message goes to the template miner (``knowledge.fingerprint``)
after :func:`strip_data`: reprs (``<Bookmark: 12>``, ``... object at 0x7f...>``), quoted
values, dict and list literals become parameters before the usual masking of numbers, ids,
URLs and paths. Quoted values hold spaces, and drain3 clusters by token count, so one
malformed file named ``'bookmarks (3).html'`` and another named ``'export.html'`` were two
templates (51 problems for one bad import in the field).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from knowledge.fingerprint_state import FINGERPRINT_CHARS, FingerprintResult
from knowledge.logmask import PARAM, mask

TITLE_PARAM = "…"  # what a stripped value reads as in a title: pages never show "<*>"
MAX_TITLE_MESSAGE = 120

# A repr: <Bookmark: Bookmark object (12)>, <function f at 0x7f...>; never "<*>" itself.
_REPR = re.compile(r"<[A-Za-z_][\w.]*(?:[ :][^<>\n]*)?>")
_QUOTED = re.compile(r"""(?<![\w])'[^'\n]{0,500}'(?![\w])|"[^"\n]{0,500}"|`[^`\n]{0,500}`""")
_DICT = re.compile(r"\{[^{}\n]*\}")
# Lists with a separator or a quote; "[Errno 111]" stays a word.
_LIST = re.compile(r"\[[^\[\]\n]*[,'\"][^\[\]\n]*\]|\[\]")
_PARAM_RUN = re.compile(r"<\*>(?:[\s,;:.]*<\*>)+")


def strip_data(message: str) -> str:
    """``message`` with its data parts as ``<*>``: reprs, quoted values, literals, then
    numbers, ids, URLs and paths (``knowledge.logmask.mask``)."""
    text = _REPR.sub(PARAM, message)
    text = _QUOTED.sub(PARAM, text)
    text = _DICT.sub(PARAM, text)
    text = _LIST.sub(PARAM, text)
    text = mask(text, typed=False)
    return _PARAM_RUN.sub(PARAM, text).strip()


def _frames(exception: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    frames = [f for f in exception.get("frames") or () if isinstance(f, Mapping)]
    return [f for f in frames if f.get("in_app", True)] or frames


def _frame_keys(frames: list[Mapping[str, Any]]) -> list[str]:
    keys: list[str] = []
    for frame in frames:
        key = f"{frame.get('module', '')}:{frame.get('function', '')}"
        if not keys or keys[-1] != key:  # recursion depth must not split a problem
            keys.append(key)
    return keys


def exception_title(exception: Mapping[str, Any]) -> str:
    """``AttributeError: … object has no attribute … in bookmarks.views:create``."""
    kind = str(exception.get("type", "")).rsplit(".", 1)[-1] or "Exception"
    message = strip_data(str(exception.get("message", ""))).replace(PARAM, TITLE_PARAM)
    if len(message) > MAX_TITLE_MESSAGE:
        message = message[: MAX_TITLE_MESSAGE - 1] + "…"
    title = f"{kind}: {message}" if message else kind
    frames = _frames(exception)
    if frames:
        title += f" in {_frame_keys(frames[-1:])[0]}"
    return title


def exception_grouping(exception: Mapping[str, Any] | None) -> FingerprintResult | None:
    """The fingerprint of a structured exception (type + in-app ``module:function``
    frames), or None when it has no frames (the caller falls back to the message)."""
    if not exception or not exception.get("type"):
        return None
    frames = _frames(exception)
    if not frames:
        return None
    key = "\n".join(["exception", str(exception["type"]), *_frame_keys(frames)])
    fingerprint = hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()[:FINGERPRINT_CHARS]
    title = exception_title(exception)
    return FingerprintResult(fingerprint, title, -1, fingerprint, title)


def exception_text(exception: Mapping[str, Any]) -> str:
    """``type: message``: what the template miner sees of an exception without frames."""
    return f"{exception.get('type')}: {exception.get('message', '')}".strip()
