"""Endpoint labels outside Django: a framework's route template, else a normalised path.

The monitor keeps one latency and error-rate series per endpoint, so an endpoint must be a
*kind* of request (``/items/{id}``), never one request's path (``/items/42``): a label per
id would give every id its own series, each too thin to judge, and crowd real endpoints out
of the monitor's per-service budget.

When the framework matched a route, its template is the label: Starlette and FastAPI put
the matched route in ``scope["route"]`` (``/items/{id}``), Flask in ``request.url_rule``
(``/items/<int:id>``, written here ``/items/{id}`` so both read alike). A request no route
matched and answered 404 (scanners, typos) is ``<unmatched>``, as in the Django middleware.
Anything else (a plain WSGI or ASGI app, a 405 or a redirect before routing) gets its path
normalised, and cardinality is bounded three ways:

1. id-like segments become ``{id}``: numbers and dates, UUIDs, hex digests (12+ hex digits
   with a digit among them), ULIDs, e-mail addresses, long tokens mixing letters and
   digits, and any segment over ``MAX_SEGMENT_CHARS``;
2. only the first ``MAX_SEGMENTS`` segments are kept (deeper ones become ``{rest}``);
3. each middleware admits at most ``max_paths`` distinct normalised labels (default
   ``DEFAULT_MAX_PATHS``); past that, new ones are reported as ``<other>``. Shapes no rule
   can see (``/blog/my-first-post``) thus cost at most that many series per process.

Route templates are not capped: an app has as many as it declares.
"""

from __future__ import annotations

import re
import threading

UNMATCHED_ENDPOINT = "<unmatched>"  # a 404 no route matched: never the raw path
OTHER_ENDPOINT = "<other>"  # a normalised path past the cap
DEFAULT_MAX_PATHS = 100
MAX_SEGMENTS = 8
MAX_SEGMENT_CHARS = 64
ID = "{id}"

_ID_SEGMENT = re.compile(
    r"""
    \d[\d\-_.:,+]*                                         # 42, 2024-01-31, 1.5, 12:30
    | [0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}  # a UUID
    | (?=[0-9a-f]*\d)[0-9a-f]{12,}                         # sha, ObjectId: hex with a digit
    | [0-9A-HJKMNP-TV-Z]{26}                               # a ULID (upper-case Crockford)
    | [^@]+@[^@]+                                          # an e-mail address
    | (?=[\w\-~]*\d)(?=[\w\-~]*[a-zA-Z])[\w\-~]{20,}       # a long token of letters and digits
    """,
    re.VERBOSE | re.IGNORECASE,
)
# Flask / Werkzeug rule variables: <name>, <int:name>, <any(a, b):name>.
_RULE_VARIABLE = re.compile(r"<(?:[^<>:]+:)?([^<>:]+)>")
# Starlette path parameters with a convertor: {id:int}, {rest:path}.
_CONVERTED_PARAM = re.compile(r"\{(\w+):\w+\}")


def is_id(segment: str) -> bool:
    return len(segment) > MAX_SEGMENT_CHARS or _ID_SEGMENT.fullmatch(segment) is not None


def normalise_path(path: str) -> str:
    """``/items/42/edit`` -> ``/items/{id}/edit``; no query string, at most ``MAX_SEGMENTS``."""
    segments = [segment for segment in path.split("?", 1)[0].split("/") if segment]
    kept = [ID if is_id(segment) else segment for segment in segments[:MAX_SEGMENTS]]
    if len(segments) > MAX_SEGMENTS:
        kept.append("{rest}")
    label = "/" + "/".join(kept)
    if path.endswith("/") and kept and len(segments) <= MAX_SEGMENTS:
        label += "/"
    return label


def rule_label(rule: str) -> str:
    """A Flask/Werkzeug rule (``/items/<int:id>``) written as ``/items/{id}``."""
    return "/" + _RULE_VARIABLE.sub(lambda m: "{" + m.group(1).strip() + "}", rule).lstrip("/")


def template_label(template: str) -> str:
    """A Starlette/FastAPI route template (``/items/{id:int}``) as ``/items/{id}``."""
    return "/" + _CONVERTED_PARAM.sub(r"{\1}", template).lstrip("/")


class PathLabels:
    """Normalised path labels, at most ``limit`` distinct ones per instance (thread-safe)."""

    def __init__(self, limit: int = DEFAULT_MAX_PATHS) -> None:
        if limit < 0:
            raise ValueError("limit must be >= 0")
        self.limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def label(self, path: str, status: int | None = None) -> str:
        """The label of a request no route template names."""
        if status == 404:
            return UNMATCHED_ENDPOINT
        return self.admit(normalise_path(path))

    def admit(self, label: str) -> str:
        """``label`` while fewer than ``limit`` distinct ones were admitted, else ``<other>``
        (also for a template behind a path prefix, whose raw part no rule may have seen)."""
        if label in self._seen:
            return label
        with self._lock:
            if label in self._seen or len(self._seen) < self.limit:
                self._seen.add(label)
                return label
        return OTHER_ENDPOINT
