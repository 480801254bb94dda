"""Values the stores cannot hold, refused at the edge with the field that carries them.

PostgreSQL refuses NUL characters in text, and JSON has no NaN or Infinity (a float past
1e308 parses as infinity and turns into ``null`` downstream). Such an event used to be
accepted with 202 and end in the dead-letter stream; now it is a 400 naming the field.

The check is cheap on the hot path: a body is only walked when a byte scan says it may hold
such a value (an escaped NUL, or an exponent of three digits or more).
"""

from __future__ import annotations

import math
import re
from typing import Any

from agents.ingest.refusals import IngestRefused, invalid

_SUSPECT_NUMBER = re.compile(rb"[eE][+]?\d{3,}")


def body_may_hold_unstorable(body: bytes) -> bool:
    return b"\\u0000" in body or _SUSPECT_NUMBER.search(body) is not None


def _walk(value: Any, path: str, errors: list[dict[str, Any]]) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            errors.append({"field": path, "reason": "NUL characters (\\u0000) cannot be stored"})
    elif isinstance(value, float):
        if not math.isfinite(value):
            errors.append({"field": path, "reason": "numbers must be finite (no NaN/Infinity)"})
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and "\x00" in key:
                errors.append({"field": path or "body", "reason": "NUL characters in a key"})
            _walk(item, f"{path}.{key}" if path else str(key), errors)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _walk(item, f"{path}[{index}]", errors)


def refuse_unstorable(data: Any) -> None:
    """400 naming every field whose value the stores cannot hold."""
    errors: list[dict[str, Any]] = []
    _walk(data, "", errors)
    if errors:
        raise invalid(
            f"{len(errors)} value(s) cannot be stored; nothing was accepted",
            errors[:50],
            "unstorable",
        )


_NON_FINITE_LITERAL = re.compile(rb"\b(?:NaN|-?Infinity)\b")


def unstorable_refusal(body: bytes, exc: ValueError) -> IngestRefused | None:
    """The JSON parser's refusal of a NaN/Infinity literal, said as such (it only says
    "expected value")."""
    if _NON_FINITE_LITERAL.search(body) is None:
        return None
    return invalid(
        "numbers must be finite; nothing was accepted",
        [{"field": "body", "reason": f"NaN and Infinity are not JSON numbers ({exc})"}],
        "unstorable",
    )
