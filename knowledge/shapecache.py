"""An exact cache from a text's *shape* to what masking and header splitting made of it.

Why: masking (``knowledge.logmask.mask``) and the header regex cost tens of microseconds
per line, while a log stream repeats a few hundred shapes. Mask and header patterns look at
digits by position and count, never by value (``shape`` keeps the ``0`` of ``0x``), so two
texts of one shape are split and masked alike. What differs is the digits masking *keeps*:
those glued to letters (``jk2_init``, ``KB3121255``, ``u0a37``). So:

* a shape whose masked text kept no digit maps straight to the result;
* a shape whose masked text kept only letter-glued digit runs maps, through the values of
  those runs, to the result: ``jk2_init() Found child 32386`` and ``... child 32604`` share
  one entry, ``jk3_init()`` gets its own;
* a shape whose masked text kept a digit run that is not glued to a letter is never cached.

Every hit is therefore exactly what recomputing would give, which keeps fingerprints the same
across workers whatever order they see lines in.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Generic, TypeVar

from knowledge.logmask import shape

V = TypeVar("V")

# A digit run with a letter right before or after it: masking keeps these (names, KB ids).
_GLUED = re.compile(r"(?<=[A-Za-z])\d+|\d+(?=[A-Za-z])")
# A digit run with no letter on either side: if masking kept one, the shape is not enough.
_LOOSE = re.compile(r"(?<![A-Za-z\d])\d+(?![A-Za-z\d])")
_DIGIT = re.compile(r"\d")


class _GluedSpans:
    """Where a shape's letter-glued digit runs sit, so a lookup reads their values cheaply.

    Without ``collapse`` every text of one shape has its runs at the same offsets (letters
    and digit positions are what the shape fixes), so slicing replaces a regex scan; a
    collapsed shape's offsets vary, so its runs are found by the scan.
    """

    __slots__ = ("spans",)

    def __init__(self, text: str, *, by_position: bool) -> None:
        self.spans = [m.span() for m in _GLUED.finditer(text)] if by_position else None

    def values(self, text: str) -> tuple[str, ...]:
        if self.spans is None:
            return tuple(_GLUED.findall(text))
        return tuple([text[a:b] for a, b in self.spans])


class ShapeCache(Generic[V]):
    """``resolve(text, compute)``: the cached value for ``text``'s shape, else ``compute``'s.

    First in, first out past ``size``. ``collapse`` cuts digit runs over 6 to 6 in the key
    (see ``shape``): more hits, but only for values that do not depend on offsets in the
    text (a masked message, not a header offset). The shape is computed once per call: on a
    miss the same key stores the result.
    """

    def __init__(self, size: int, *, collapse: bool = False) -> None:
        self.size = size
        self.collapse = collapse
        self._by_shape: dict[bytes, object] = {}
        self._by_glued: dict[tuple[bytes, tuple[str, ...]], V] = {}

    def resolve(self, text: str, compute: Callable[[str], tuple[V, str]]) -> V:
        """The value for ``text``; on a miss ``compute(text)`` gives ``(value, masked)``, and
        the value is kept when ``masked`` (the masked text) shows the shape decides it."""
        key = shape(text, collapse=self.collapse)
        hit = self._by_shape.get(key)
        if hit is not None:
            if type(hit) is not _GluedSpans:
                return hit  # type: ignore[return-value]
            value = self._by_glued.get((key, hit.values(text)))
            if value is not None:
                return value
        value, masked = compute(text)
        if _DIGIT.search(masked) is None:
            _bounded_put(self._by_shape, key, value, self.size)
        elif _LOOSE.search(masked) is None:
            spans = hit if type(hit) is _GluedSpans else None
            if spans is None:
                spans = _GluedSpans(text, by_position=not self.collapse)
                _bounded_put(self._by_shape, key, spans, self.size)
            _bounded_put(self._by_glued, (key, spans.values(text)), value, self.size)
        return value

    def lookup(self, text: str) -> V | None:
        """The cached value for ``text``, or ``None`` (read-only)."""
        key = shape(text, collapse=self.collapse)
        hit = self._by_shape.get(key)
        if type(hit) is _GluedSpans:
            return self._by_glued.get((key, hit.values(text)))
        return hit  # type: ignore[return-value]

    def clear(self) -> None:
        self._by_shape.clear()
        self._by_glued.clear()


def _bounded_put(table: dict, key: object, value: object, size: int) -> None:
    if key not in table and len(table) >= size:
        del table[next(iter(table))]  # oldest first: cheap, and old shapes go stale first
    table[key] = value
