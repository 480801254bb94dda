"""Route labels: the matched URL pattern, readable, never the raw path nor raw regex.

``path()`` routes are already readable (``bookmarks/<int:pk>/``). ``re_path()`` routes and
DRF routers' routes are regular expressions (``^bookmarks/(?P<pk>[^/.]+)/$``): cut at the
first ``(`` they became ``/api/bookmarks/(``, one label for list, search and detail. They
are simplified here the way Django's admindocs does it (``/bookmarks/<pk>/``), without
importing admindocs (it pulls in the admin and its models). DRF viewsets also get a view
label from their router ``basename`` and action (``bookmark.search``).
"""

from __future__ import annotations

import re
from typing import Any

from django.http import HttpRequest

from aiops_sdk.paths import UNMATCHED_ENDPOINT  # a 404 before any route matched

UNNAMED = "<var>"
_REGEX_HINTS = frozenset("^$()[]\\?*+{|")
_NAMED_GROUP = re.compile(r"\?P<(\w+)>")
_CLASS_ESCAPES = frozenset("dDwWsS")
_ZERO_WIDTH_ESCAPES = frozenset("AZbBz")


def endpoint_of(request: HttpRequest) -> str:
    """The matched route as a label (``/bookmarks/<int:pk>/``): one series per endpoint,
    not one per bookmark id, so the monitor can compare like with like."""
    match = getattr(request, "resolver_match", None)
    if match is None or not match.route:
        return UNMATCHED_ENDPOINT
    return route_label(match.route)


def route_label(route: str) -> str:
    """``route`` (as ``ResolverMatch.route`` joins it) as a readable label."""
    if _REGEX_HINTS.isdisjoint(route):
        return "/" + route.removeprefix("/")
    label = re.sub(r"/{2,}", "/", _simplify(route))
    return "/" + label.removeprefix("/")


def view_label(request: HttpRequest) -> str | None:
    """``basename.action`` for a DRF viewset (``bookmark.list``), else None."""
    match = getattr(request, "resolver_match", None)
    func: Any = getattr(match, "func", None)
    actions = getattr(func, "actions", None)
    basename = (getattr(func, "initkwargs", None) or {}).get("basename")
    if not isinstance(actions, dict) or not basename:
        return None
    action = actions.get((request.method or "get").lower())
    return f"{basename}.{action}" if action else None


def _simplify(pattern: str) -> str:
    """Named groups become ``<name>``, other groups and character classes ``<var>``;
    anchors, quantifiers and escapes go."""
    out: list[str] = []
    i, end = 0, len(pattern)
    while i < end:
        char = pattern[i]
        if char == "\\" and i + 1 < end:
            escaped = pattern[i + 1]
            if escaped in _CLASS_ESCAPES:
                out.append(UNNAMED)
            elif escaped not in _ZERO_WIDTH_ESCAPES:
                out.append(escaped)
            i += 2
        elif char == "[":
            i = _after_class(pattern, i)
            out.append(UNNAMED)
        elif char == "(":
            close = _after_group(pattern, i)
            body = pattern[i + 1 : close - 1]
            named = _NAMED_GROUP.match(body)
            if named:
                out.append(f"<{named.group(1)}>")
            elif not body.startswith(("?=", "?!", "?<=", "?<!")):
                out.append(UNNAMED)
            i = close
        elif char == ".":
            out.append(UNNAMED)
            i += 1
        elif char == "{":
            i = pattern.find("}", i) + 1 or end
        else:
            if char not in "^$?*+|":
                out.append(char)
            i += 1
    return re.sub(r"(?:<var>)+", UNNAMED, "".join(out))


def _after_class(pattern: str, start: int) -> int:
    i = start + 1
    if i < len(pattern) and pattern[i] == "^":
        i += 1
    if i < len(pattern) and pattern[i] == "]":
        i += 1  # a literal "]" first in the class
    while i < len(pattern) and pattern[i] != "]":
        i += 2 if pattern[i] == "\\" else 1
    return i + 1


def _after_group(pattern: str, start: int) -> int:
    depth, i = 0, start
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if char == "[":
            i = _after_class(pattern, i)
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return len(pattern)
