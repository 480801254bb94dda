"""Learned header splitting of raw log lines (stage 1 of ``knowledge.logparse``).

``HeaderModel`` learns the header layout of one log source from its first lines: how many
leading whitespace-separated columns are header (timestamps, numbers, levels, bracketed
fields, and the host/node/component columns that sit between them), and which optional
trailing parts follow (a level word, ``[thread]`` groups, a ``component:`` token, a
``name - `` separator), and the farthest column that closes
a header in nearly every line (``prog[pid]:``, ``|``, ``::``), so free columns before it
(syslog's host and program) are header too. Quoted ``key="multi word"`` values start the
message; fields joined by ``|``/tab/``;`` without spaces are split when no whitespace
column is found. The layout is compiled to one regular expression, so applying it costs a
single ``match`` per line; lines that do not fit the layout (continuations, stack traces)
keep their whole text as the message.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import islice

from knowledge import logstruct
from knowledge.logheader_match import CompiledLayout
from knowledge.logheader_rules import (
    _ANCHOR,
    _ANCHOR_V2,
    _CLASS_PATTERNS,
    _DASH,
    _DIGIT_RE,
    _FIELD_DELIMITERS,
    _LEGACY_ANCHOR,
    _LEGACY_TAILS,
    _TAIL_RES,
    _TAILS,
    _TERM,
    _TERM_V2,
    _TERMINATOR,
    _TOKEN,
    _TOKEN_SCAN,
    RULES_VERSION,
    _classify,
)


def _OPENS(token: str) -> bool:  # noqa: N802  # reads as a predicate on tokens
    """A token that opens a double-quoted string closed in a later token."""
    return token[:1] == '"' and (len(token) == 1 or token[-1] != '"')


LEARN_LINES = 200
MAX_HEADER_COLUMNS = 12
MAX_HEADER_GAP = 3
COLUMN_RATE = 0.9
TAIL_RATE = 0.3


@dataclass
class ParsedLine:
    """A raw log line split into header fields and the free-text message."""

    header: dict[str, str] = field(default_factory=dict)
    message: str = ""


@dataclass
class HeaderLayout:
    """The learned shape of one source's header; see ``HeaderModel``."""

    columns: list[str] = field(default_factory=list)
    tails: list[str] = field(default_factory=list)
    #: For headers whose fields are joined by a delimiter without spaces
    #: (``20240301-10:00:01|auth|4411|message``): the delimiter and the fields it closes.
    delimiter: str = ""
    fields: int = 0
    #: The header rules it was fitted with (see ``RULES_VERSION``).
    version: int = RULES_VERSION
    #: For structured lines (``logstruct``): ``json`` or ``logfmt``, and the message's key.
    structure: str = ""
    message_key: str = ""


class HeaderModel:
    """Learns and applies the header layout of one log source.

    Why learn: a header column such as a node name (``node-246``) or a component
    (``unix.hw``) looks like ordinary text in a single line; it is recognisable only as a
    column that sits between timestamp/number/level columns in (nearly) every line. The model
    looks at the first ``LEARN_LINES`` lines: a column is *anchored* when at least
    ``COLUMN_RATE`` of them hold a timestamp, number, level, ``-`` or ``[bracketed]`` token
    there; the header runs to the level column, or else to the last anchored column reached
    through gaps of at most ``MAX_HEADER_GAP`` free columns. Optional parts after that (level,
    ``[thread]``, ``component:``, ``name -``) are kept when at least
    ``TAIL_RATE`` of the sample shows them. Until ``LEARN_LINES`` lines were seen the layout
    is refitted at 1, 2, 4, 8... lines, so the earliest lines use the best guess so far; call
    ``fit`` with the first lines up front when a stable layout from line one matters.
    """

    def __init__(self, learn_lines: int = LEARN_LINES) -> None:
        self.learn_lines = learn_lines
        self._sample: list[list[str]] = []
        self._sample_lines: list[str] = []
        self._sample_tokens: list[list[str]] = []
        self.layout = HeaderLayout()
        self._matcher: CompiledLayout | None = None
        self._frozen = False
        #: True when lines are JSON or logfmt records (see ``message_of``); an attribute,
        #: not a property, because the miner reads it for every line.
        self.structured = False

    @classmethod
    def from_layout(cls, layout: HeaderLayout) -> HeaderModel:
        """A frozen model with a layout learned earlier (``ValueError`` if it is not one)."""
        known = {name for name, _ in _CLASS_PATTERNS} | {"free", "term"}
        tails = _TAILS if layout.version >= 2 else _LEGACY_TAILS
        if not set(layout.columns) <= known or not set(layout.tails) <= set(tails):
            raise ValueError(f"unknown header layout: {layout}")
        if layout.structure not in ("", logstruct.JSON, logstruct.LOGFMT):
            raise ValueError(f"unknown header layout: {layout}")
        model = cls()
        model.layout = layout
        model._matcher = None if layout.structure else cls._compile(layout)
        model._frozen = True
        model.structured = bool(layout.structure)
        return model

    def fit(self, lines: Iterable[str]) -> HeaderModel:
        """Learn the layout from ``lines`` at once and freeze it."""
        for line in lines:
            self._observe(line)
        self._refit()
        self._frozen = True
        return self

    def split(self, line: str) -> ParsedLine:
        """Split one line, learning from it while the model is still warming up."""
        if not self._frozen:
            self._observe(line)
            seen = len(self._sample)
            if seen >= self.learn_lines:
                self._refit()
                self._frozen = True
            elif seen & (seen - 1) == 0:  # refit at 1, 2, 4, 8... lines: cheap warm-up
                self._refit()
        return self._apply(line)

    def _observe(self, line: str) -> None:
        # ``\s*(token)`` matches wherever a non-space character remains, so scanning finds
        # the same chain of tokens as matching at each previous end, in one C loop.
        tokens = [m.group(1) for m in islice(_TOKEN_SCAN.finditer(line), MAX_HEADER_COLUMNS)]
        self._sample.append([_classify(t) for t in tokens])
        self._sample_tokens.append(tokens)
        self._sample_lines.append(line)

    def _refit(self) -> None:
        structured = logstruct.detect(self._sample_lines, COLUMN_RATE)
        if structured is not None:
            self.layout = HeaderLayout(structure=structured[0], message_key=structured[1])
            self.structured = True
            self._matcher = None
            return
        self.structured = False
        n = len(self._sample)
        columns: list[str] = []
        last_anchor = -1
        stop = MAX_HEADER_COLUMNS
        for col in range(MAX_HEADER_COLUMNS):
            classes = [row[col] for row in self._sample if len(row) > col]
            if len(classes) < COLUMN_RATE * n:
                break
            anchors = [c for c in classes if c != "free"]
            spaced = sum(
                1
                for row in self._sample_tokens
                if len(row) > col and '=" ' not in row[col] and "=" in row[col] and " " in row[col]
            )
            # A quoted value that spans spaces (``msg="..."``, an access log's ``"GET / ..."``)
            # is text: the message starts there.
            quoted = sum(1 for row in self._sample_tokens if len(row) > col and _OPENS(row[col]))
            if spaced >= TAIL_RATE * n or quoted >= TAIL_RATE * n:
                stop = col
                break
            if len(anchors) >= COLUMN_RATE * n:
                if col - last_anchor - 1 > MAX_HEADER_GAP:
                    break
                columns.extend(["free"] * (col - len(columns)))
                # Ties go to the kind seen first: a set's order would vary with the hash seed,
                # and two workers must read the same layout from the same lines.
                columns.append(Counter(anchors).most_common(1)[0][0])
                last_anchor = col
                if columns[-1] == "level":
                    break
            elif col - last_anchor > MAX_HEADER_GAP:
                break
        self._extend_to_terminator(columns, n, stop)
        # A trailing ``-`` after free columns separates a variable-width name ("prog *64 -"):
        # leave it to the ``program`` tail, which allows one to three tokens before the dash.
        if columns and columns[-1] == "dash" and len(columns) > 1 and columns[-2] == "free":
            columns.pop()
            while columns and columns[-1] == "free":
                columns.pop()
        tails = self._fit_tails(columns)
        self.layout = HeaderLayout(columns, tails)
        if not columns and not tails:
            self.layout = self._fit_delimited() or self.layout
        self._matcher = self._compile(self.layout)

    def _fit_delimited(self) -> HeaderLayout | None:
        """A header of delimiter-joined fields, when whitespace columns found none.

        A candidate delimiter must occur in (nearly) every line, and the field before its
        first occurrence must look like a stamp in (nearly) every line: a header column
        (timestamp, number, level, bracket) or one unspaced token holding digits. The header
        closes as many fields as nearly every line has.
        """
        n = len(self._sample_lines)
        for delimiter in _FIELD_DELIMITERS:
            counts = sorted(line.count(delimiter) for line in self._sample_lines)
            fields = counts[int((1.0 - COLUMN_RATE) * (n - 1))] if counts else 0
            if fields < 1:
                continue
            firsts = [line.split(delimiter, 1)[0].strip() for line in self._sample_lines]
            stamped = sum(
                1
                for f in firsts
                if _classify(f) != "free" or (" " not in f and _DIGIT_RE.search(f))
            )
            if stamped >= COLUMN_RATE * n:
                return HeaderLayout(delimiter=delimiter, fields=fields)
        return None

    def _extend_to_terminator(self, columns: list[str], n: int, stop: int) -> None:
        """Extend the header through the farthest column that holds a terminator (``prog:``,
        ``|``, ``::``) in nearly every line, reached through gaps of at most
        ``MAX_HEADER_GAP`` free columns (host names, components: syslog's ``host prog[1]:``)."""
        gap_start = len(columns)
        for col in range(len(columns), stop):
            tokens = [row[col] for row in self._sample_tokens if len(row) > col + 1]
            if len(tokens) < COLUMN_RATE * n:
                return
            if sum(1 for t in tokens if _TERMINATOR.fullmatch(t)) >= COLUMN_RATE * n:
                columns.extend(["free"] * (col - len(columns)))
                columns.append("term")
                gap_start = col + 1
            elif col - gap_start + 1 > MAX_HEADER_GAP:
                return

    def _fit_tails(self, columns: list[str]) -> list[str]:
        # Matched part by part (``logheader_match``): compiling the whole fixed pattern, the
        # anchor alternation once per column, cost a third of mining a 2,000-line source.
        fixed = self._compile(HeaderLayout(columns)).match_end
        rests = []
        for line in self._sample_lines:
            end = fixed(line)
            if end is not None:
                rests.append(line[end:])
        if not rests:
            return []
        chosen: list[str] = []
        order = ["context", "thread", "component", "dash", "program"]
        if "level" not in columns:
            order.insert(0, "level")
        for name in order:
            if name == "program" and "dash" in chosen:
                continue
            pattern = _TAIL_RES[name]
            hits = 0
            for i, rest in enumerate(rests):
                m = pattern.match(rest)
                if m is not None:
                    hits += 1
                    rests[i] = rest[m.end() :]
            if hits >= TAIL_RATE * len(rests):
                chosen.append(name)
        return chosen

    @staticmethod
    def _fixed_pattern(
        columns: Sequence[str], anchor: str = _ANCHOR, term: str = _TERM, dash: str = _DASH
    ) -> str:
        """One group per column, named by its class (``time``, ``time_2``, ``free_4``...)."""
        parts = [r"\s*"]
        used: set[str] = set()
        tokens = {"free": _TOKEN, "term": term, "dash": dash}
        for i, kind in enumerate(columns, start=1):
            name = kind if kind not in used and kind != "free" else f"{kind}_{i}"
            used.add(kind)
            token = tokens.get(kind, anchor)
            parts.append(f"(?P<{name}>{token})\\s+")
        return "".join(parts)

    @classmethod
    def _compile(cls, layout: HeaderLayout) -> CompiledLayout:
        if layout.delimiter:
            d = re.escape(layout.delimiter)
            return CompiledLayout(f"(?:[^{d}\\n]*{d}){{{layout.fields}}}\\s*")
        if layout.version >= RULES_VERSION:
            anchor, term, dash, known_tails = _ANCHOR, _TERM, _DASH, _TAILS
        elif layout.version == 2:
            anchor, term, dash, known_tails = _ANCHOR_V2, _TERM_V2, _ANCHOR_V2, _TAILS
        else:
            anchor, term, dash, known_tails = (
                _LEGACY_ANCHOR,
                _TERM_V2,
                _LEGACY_ANCHOR,
                _LEGACY_TAILS,
            )
        tails = "".join(r"(?:" + known_tails[name] + r")?" for name in layout.tails)
        tokens = {"free": _TOKEN, "term": term, "dash": dash}
        return CompiledLayout(
            cls._fixed_pattern(layout.columns, anchor, term, dash) + tails,
            [f"(?:{tokens.get(kind, anchor)})\\s+" for kind in layout.columns],
            [known_tails[name] for name in layout.tails],
        )

    @property
    def frozen(self) -> bool:
        """True once the layout is final (``fit`` called or ``learn_lines`` lines seen)."""
        return self._frozen

    def message_of(self, line: str) -> str:
        """The message of ``line``: its message field when structured, else what follows
        the header (stripped)."""
        layout = self.layout
        if layout.structure:
            return logstruct.message_of(line, layout.structure, layout.message_key)
        start = self.message_start(line)
        return line[start:].strip() if start else line.strip()

    def message_start(self, line: str) -> int:
        """Offset where the message starts in ``line`` (0 when the layout does not fit).

        The cheap half of ``split`` for callers that need only the message: no header
        dictionary, and the layout matched by its shared parts (``logheader_match``).
        """
        return 0 if self._matcher is None else self._matcher.message_start(line)

    def _apply(self, line: str) -> ParsedLine:
        layout = self.layout
        if layout.structure:
            return ParsedLine(
                logstruct.fields_of(line, layout.structure, layout.message_key),
                logstruct.message_of(line, layout.structure, layout.message_key),
            )
        if self._matcher is None:
            return ParsedLine({}, line.strip())
        m = self._matcher.match(line)
        if m is None or m.end() == 0:
            return ParsedLine({}, line.strip())
        header = {name: value for name, value in m.groupdict().items() if value is not None}
        return ParsedLine(header, line[m.end() :].strip())


_DEFAULT_MODEL: HeaderModel | None = None


def split_header(line: str, model: HeaderModel | None = None) -> ParsedLine:
    """Split a raw line into header fields and message.

    Without a ``model`` a module-wide ``HeaderModel`` is used, which learns from the lines
    passed here; callers that read several sources should keep one ``HeaderModel`` (or one
    ``TemplateMiner``) per source.
    """
    global _DEFAULT_MODEL
    if model is None:
        if _DEFAULT_MODEL is None:
            _DEFAULT_MODEL = HeaderModel()
        model = _DEFAULT_MODEL
    return model.split(line)


# ---------------------------------------------------------------------------------------------
