"""Applying a learned header layout to lines, part by part (used by ``knowledge.logheader``).

A layout is one regular expression: ``\\s*``, one group per header column, each followed by
``\\s+``, then the optional tails. Compiled whole, every layout costs milliseconds to compile
(the anchor alternation is repeated in each anchored column), which a new worker pays for
every service it meets. Its parts, though, are few and shared by all layouts (the anchor,
free and terminator columns, each tail), so they are compiled once per process.

Matching part by part is exact, not an approximation: ``re`` explores a concatenation depth
first, so when each part's first match lets the next part match, that chain *is* the whole
pattern's first match; tails are optional and never force a step back. Only when a column
finds no match could the whole pattern have succeeded through another choice in an earlier
column (a bracketed field read as a plain token): that line is matched by the whole
pattern, compiled on first need. The header fields (named groups) also come from it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence


class CompiledLayout:
    """``message_start`` by parts; ``match`` (with the named header fields) by the whole."""

    __slots__ = ("_columns", "_full", "_full_pattern", "_lead", "_tails")

    def __init__(
        self, full_pattern: str, columns: Sequence[str] = (), tails: Sequence[str] = ()
    ) -> None:
        """``full_pattern`` is the whole layout; ``columns`` (each ``token\\s+``) and
        ``tails`` are its parts in order. Without columns and tails the whole pattern is
        used for everything (delimited layouts: short, cheap to compile)."""
        self._full_pattern = full_pattern
        self._full: re.Pattern[str] | None = None
        self._lead = re.compile(r"\s*")
        # re.compile keeps its own cache: every layout shares the compiled parts.
        self._columns = [re.compile(part) for part in columns]
        self._tails = [re.compile(part) for part in tails]
        if not self._columns and not self._tails:
            self._full = re.compile(full_pattern)

    def match(self, line: str) -> re.Match[str] | None:
        """The whole layout's match at the start of ``line`` (named groups per field)."""
        if self._full is None:
            self._full = re.compile(self._full_pattern)
        return self._full.match(line)

    def message_start(self, line: str) -> int:
        """Offset where the message starts (0 when the layout does not fit ``line``)."""
        end = self.match_end(line)
        return 0 if end is None else end

    def match_end(self, line: str) -> int | None:
        """Where the whole layout's match at the start of ``line`` ends (``None``: no match),
        found part by part as ``message_start`` is."""
        if self._full is not None and not self._columns and not self._tails:
            m = self._full.match(line)
            return None if m is None else m.end()
        pos = self._lead.match(line).end()  # type: ignore[union-attr]  # \s* always matches
        for column in self._columns:
            m = column.match(line, pos)
            if m is None:  # another split may fit: ask the whole pattern
                whole = self.match(line)
                return None if whole is None else whole.end()
            pos = m.end()
        for tail in self._tails:
            m = tail.match(line, pos)
            if m is not None:
                pos = m.end()
        return pos
