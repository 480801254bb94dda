"""Log-line template mining on top of drain3, with learned header splitting and typed masking.

Three stages, each general (nothing is keyed on a system name or on particular messages):

1. ``HeaderModel`` learns the header layout of one log source from its first lines: how many
   leading whitespace-separated columns are header (timestamps, numbers, levels, bracketed
   fields, and the host/node/component columns that sit between them), and which optional
   trailing parts follow (a level word, ``[thread]`` groups, a ``component:`` token, a
   column-aligned component, a ``program - `` separator), and the farthest column that closes
   a header in nearly every line (``prog[pid]:``, ``|``, ``::``), so free columns before it
   (syslog's host and program) are header too. Quoted ``key="multi word"`` values start the
   message; fields joined by ``|``/tab/``;`` without spaces are split when no whitespace
   column is found. The layout is compiled to one regular
   expression, so applying it costs a single ``match`` per line; lines that do not fit the
   layout (continuations, stack traces) keep their whole text as the message.
2. ``mask`` replaces variable tokens (URLs, e-mails, UUIDs, IPs, timestamps, paths, hex,
   sizes/durations, numbers) so drain3 compares messages by their constant words.
3. ``TemplateMiner`` feeds masked messages to drain3 whose similarity counts a masked token
   against a masked token as equal, then refines each drain3 cluster by the message's plain
   alphabetic words: two messages that differ only in a *word* (``stored as bytes`` vs
   ``stored as values``) describe different events, while differing numbers, ids, hosts and
   paths are parameters. Both decisions are online: a line's cluster id is final when ``add``
   returns. An optional second pass, ``TemplateMiner.final_cluster_ids``, regroups lines once
   all are in, treating a word position that took many distinct values as a parameter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from drain3 import TemplateMiner as Drain3Miner
from drain3.drain import Drain
from drain3.template_miner_config import TemplateMinerConfig

PARAM = "<*>"
SIM_TH = 0.6
DEPTH = 5
MAX_CHILDREN = 100
LEARN_LINES = 200
MAX_HEADER_COLUMNS = 12
MAX_HEADER_GAP = 3
COLUMN_RATE = 0.9
TAIL_RATE = 0.3
MAX_WORD_VALUES = 4
CACHE_SIZE = 100_000  # distinct line shapes remembered per miner

# ---------------------------------------------------------------------------------------------
# Masking
# ---------------------------------------------------------------------------------------------

_UNIT = r"(?:bytes?|[KMGT]i?B|B|ms|us|ns|secs?|seconds?|mins?|minutes?|hours?|days?)"
_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_WEEKDAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"

# (trigger, pattern, typed placeholder). A pattern runs only when its trigger substring occurs
# in the message (None: always), which keeps masking cheap on the common short messages.
_MASKS: list[tuple[str | None, re.Pattern[str], str]] = [
    ("://", re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s,;\"'<>()\[\]{}]+"), "<URL>"),
    ("@", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}\b"), "<EMAIL>"),
    (
        "-",
        re.compile(
            r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
        ),
        "<UUID>",
    ),
    (".", re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?(?![\w.])"), "<IP>"),
    (
        None,
        re.compile(
            r"(?<![\w.:/-])(?:\d{4}(?P<s1>[-/.])\d{1,2}(?P=s1)\d{1,2}"
            r"|\d{1,2}(?P<s2>[-/.])\d{1,2}(?P=s2)\d{4})"
            r"(?:[T :-]\d{1,2}[:.]\d{2}(?:[:.]\d{2})?(?:[.,]\d+)?)?(?![\w.:/-])"
        ),
        "<TS>",
    ),
    (":", re.compile(r"(?<![\w:])\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?(?![\w:])"), "<TS>"),
    (
        "::",
        re.compile(r"(?<![\w:.])(?:[0-9a-fA-F]{0,4}:){2,7}[0-9a-fA-F]{0,4}(?![\w:])"),
        "<IP>",
    ),
    (
        ":",
        re.compile(r"(?<![\w:.])(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}(?![\w:])"),
        "<IP>",
    ),
    (":", re.compile(r"(?<![\w.-])[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+:\d{1,5}\b"), "<HOST>"),
    ("/", re.compile(r"(?<!\w)(?:[A-Za-z]:)?(?:/[\w.$~@+-]+){2,}/?"), "<PATH>"),
    ("\\", re.compile(r"(?<!\w)(?:[A-Za-z]:)?(?:\\[\w.$~@+-]+){2,}\\?"), "<PATH>"),
    ("0", re.compile(r"\b0[xX][0-9a-fA-F]+\b"), "<HEX>"),
    (None, re.compile(r"\b(?=[0-9a-fA-F]*[a-fA-F])(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{6,}\b"), "<HEX>"),
    (
        None,
        re.compile(
            r"(?<![\w.])[<>]?\d+(?:\.\d+)?\s?" + _UNIT + r"(?!\w)"
            r"(?:\s\(\d+(?:\.\d+)?\s?" + _UNIT + r"\))?(?![\w(])"
        ),
        "<SIZE>",
    ),
    (None, re.compile(r"(?<![A-Za-z0-9<])[-+]?\d+(?:\.\d+)*(?![A-Za-z0-9>])"), "<NUM>"),
]
_HAS_DIGIT = re.compile(r"\d")
# A run of identical masked tokens is one variable-length list (``blk_<*> blk_<*> ...``).
_REPEATS = re.compile(r"(?<!\S)(\S*<[A-Z*]+>\S*)(?:\s+\1)+(?!\S)")


_PLACEHOLDERS = [placeholder for _, _, placeholder in _MASKS]
# All masks as one alternation; at a given position the earlier (more specific) alternative
# wins, as in the list order above.
_MASK_ALL = re.compile(
    "|".join(f"(?P<m{i}>{pattern.pattern})" for i, (_, pattern, _) in enumerate(_MASKS))
)
# Python's ``re`` pays per position for every alternative that starts with a look-behind, so
# the alternation runs only on the space-separated tokens that can hold a mask; the two
# shapes that span a space (``12 KB``, ``2015-07-29 17:41:44``) get a whole-message pass
# only when a substring hint (cheap ``in`` tests) says one may be there.
_SPANNING_HINTS = ("B", "byte", "s ", "sec", "min", "hour", "day")
_SPANNING = re.compile(f"(?P<m4>{_MASKS[4][1].pattern})|(?P<m13>{_MASKS[13][1].pattern})")
_CANDIDATE = re.compile(r"[\d@/\\]")


def _typed(match: re.Match[str]) -> str:
    return _PLACEHOLDERS[int(match.lastgroup[1:])]  # type: ignore[index]


def mask(message: str, typed: bool = True) -> str:
    """Replace variable tokens by ``<NUM>``, ``<HEX>``, ``<IP>``... (or all by ``<*>``).

    Composite shapes (URL, IP:port, timestamps, paths) are tried before plain numbers so their
    digits are not split into several ``<NUM>``. Digit runs inside ``snake_case`` names are
    numbers (``blk_123`` -> ``blk_<NUM>``) but digits glued to letters (``u0``, ``v6``) are
    kept, as they are usually part of a name. ``typed=False`` gives drain3's ``<*>`` so a
    masked token matches any other masked token. A run of identical masked tokens
    (``blk_<*> blk_<*> ...``) becomes one token: variable-length lists are one parameter.
    """
    if _CANDIDATE.search(message) is None:
        return message
    repl: Any = _typed if typed else PARAM
    if ":" in message or any(hint in message for hint in _SPANNING_HINTS):
        message = _SPANNING.sub(repl, message)
    tokens = message.split(" ")
    sub = _MASK_ALL.sub
    search = _CANDIDATE.search
    for i, token in enumerate(tokens):
        if search(token) is not None:
            tokens[i] = sub(repl, token)
    message = " ".join(tokens)
    if message.count(">") > 1:
        message = _REPEATS.sub(r"\1", message)
    return message


# ---------------------------------------------------------------------------------------------
# Header splitting
# ---------------------------------------------------------------------------------------------

_LEVEL_WORDS = (
    r"TRACE|DEBUG|INFO|INFORMATION|NOTICE|WARN|WARNING|ERROR|ERR|SEVERE|FATAL|CRIT|CRITICAL"
    r"|ALERT|EMERG|EMERGENCY|FAILURE|FINE|FINER|FINEST|VERBOSE"
)
_LEVEL = r"(?i:" + _LEVEL_WORDS + r")"
# A bracketed field, allowing one level of nested brackets: [QuorumPeer[myid=1]/0:0:2181].
_BRACKET = r"\[(?:[^\[\]]|\[[^\[\]]*\])*\]"
_QUOTED_KV = r'[\w.-]+="[^"]*"'
_TOKEN = r"(?:" + _BRACKET + r"|" + _QUOTED_KV + r"|\S+)"
_TS = (
    r"(?:\d{1,4}[-/.]\d{1,2}(?:[-/.]\d{1,4})?(?:[-T_:.]\d{1,2}[:.]\d{2}(?:[:.]\d{2})?"
    r"(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?)?|\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?"
    r"|" + _MONTH + r"|" + _WEEKDAY + r")"
)
_NUM = r"[-+]?\d+(?:\.\d+)?"
# Token classes that mark a header column; everything else is "free" text.
_CLASS_PATTERNS: list[tuple[str, str]] = [
    ("level", r"(?:" + _LEVEL + r"|\[" + _LEVEL + r"\]|<" + _LEVEL + r">|[VDIWEFA])[:,]?"),
    ("time", _TS + r"[,;]?"),
    ("num", _NUM + r"[,;]?"),
    ("dash", r"-"),
    ("bracket", _BRACKET),
    ("kv", r'[\w.-]+=(?:"[^"]*"|\S*)'),
]
# Delimiters that may join header fields without spaces (``ts|component|pid|message``).
_FIELD_DELIMITERS = ("|", "\t", ";")
_DIGIT_RE = re.compile(r"\d")
# A token that closes a header: ``prog[123]:``, ``Class:``, or a bare separator (``|``,
# ``::``, ``-``, ``>``). A column holding one in (nearly) every line ends the header there,
# whatever free columns (host, component) sit before it.
_TERMINATOR = re.compile(r"[^\s:]*[^\s:/]:|[^\w\s\[\]()\"']{1,3}")
_TERM = r"(?:[^\s:]*[^\s:/]:|[^\w\s\[\]()\"']{1,3})"
_CLASS_RES = [(name, re.compile(pat)) for name, pat in _CLASS_PATTERNS]
_ANCHOR = r"(?:" + r"|".join(pat for _, pat in _CLASS_PATTERNS) + r")"
_TOKEN_SCAN = re.compile(r"\s*(" + _TOKEN + r")")
_COMPONENT = r"[\w.$@#/\\()\[\]{}<>*=,+-]*[\w)\]}>]"
_TAILS: dict[str, str] = {
    "level": r"(?P<level>" + _LEVEL + r"|\[" + _LEVEL + r"\])[:,]?\s+",
    "thread": r"(?P<thread>" + _BRACKET + r"(?:\s*" + _BRACKET + r")*)\s*",
    "component": r"(?P<component>" + _COMPONENT + r"):(?:\s+|$)",
    "aligned": r"(?P<component>[\w.$-]+)\s{2,}",
    "dash": r"-\s+",
    "program": r"(?P<program>[^\s:\[\]]+(?:\s[^\s:\[\]]+){0,2})\s-\s+",
}


# All classes in one alternation: ``fullmatch`` backtracks into the next alternative when one
# cannot span the token, so the first class (in list order) that matches whole wins, as a
# loop over ``_CLASS_RES`` would decide, in one call instead of up to five.
_CLASS_ANY = re.compile("|".join(f"(?P<{name}>{pattern})" for name, pattern in _CLASS_PATTERNS))


def _classify(token: str) -> str:
    m = _CLASS_ANY.fullmatch(token)
    return "free" if m is None else m.lastgroup  # type: ignore[return-value]


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


class HeaderModel:
    """Learns and applies the header layout of one log source.

    Why learn: a header column such as a node name (``node-246``) or a component
    (``unix.hw``) looks like ordinary text in a single line; it is recognisable only as a
    column that sits between timestamp/number/level columns in (nearly) every line. The model
    looks at the first ``LEARN_LINES`` lines: a column is *anchored* when at least
    ``COLUMN_RATE`` of them hold a timestamp, number, level, ``-`` or ``[bracketed]`` token
    there; the header runs to the level column, or else to the last anchored column reached
    through gaps of at most ``MAX_HEADER_GAP`` free columns. Optional parts after that (level,
    ``[thread]``, ``component:``, aligned component, ``program -``) are kept when at least
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
        self._regex: re.Pattern[str] | None = None
        self._frozen = False

    @classmethod
    def from_layout(cls, layout: HeaderLayout) -> HeaderModel:
        """A frozen model with a layout learned earlier (``ValueError`` if it is not one)."""
        known = {name for name, _ in _CLASS_PATTERNS} | {"free", "term"}
        if not set(layout.columns) <= known or not set(layout.tails) <= set(_TAILS):
            raise ValueError(f"unknown header layout: {layout}")
        model = cls()
        model.layout = layout
        model._regex = cls._compile(layout)
        model._frozen = True
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
        tokens: list[str] = []
        pos = 0
        while len(tokens) < MAX_HEADER_COLUMNS:
            m = _TOKEN_SCAN.match(line, pos)
            if m is None:
                break
            tokens.append(m.group(1))
            pos = m.end()
        self._sample.append([_classify(t) for t in tokens])
        self._sample_tokens.append(tokens)
        self._sample_lines.append(line)

    def _refit(self) -> None:
        n = len(self._sample)
        columns: list[str] = []
        last_anchor = -1
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
            if spaced >= TAIL_RATE * n:  # a quoted multi-word value (msg="..."): the message
                break
            if len(anchors) >= COLUMN_RATE * n:
                if col - last_anchor - 1 > MAX_HEADER_GAP:
                    break
                kinds = {c: anchors.count(c) for c in set(anchors)}
                columns.extend(["free"] * (col - len(columns)))
                columns.append(max(kinds, key=kinds.__getitem__))
                last_anchor = col
                if columns[-1] == "level":
                    break
            elif col - last_anchor > MAX_HEADER_GAP:
                break
        self._extend_to_terminator(columns, n)
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
        self._regex = self._compile(self.layout)

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

    def _extend_to_terminator(self, columns: list[str], n: int) -> None:
        """Extend the header through the farthest column that holds a terminator (``prog:``,
        ``|``, ``::``) in nearly every line, reached through gaps of at most
        ``MAX_HEADER_GAP`` free columns (host names, components: syslog's ``host prog[1]:``)."""
        gap_start = len(columns)
        for col in range(len(columns), MAX_HEADER_COLUMNS):
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
        fixed = re.compile(self._fixed_pattern(columns))
        rests = []
        for line in self._sample_lines:
            m = fixed.match(line)
            if m is not None:
                rests.append(line[m.end() :])
        if not rests:
            return []
        chosen: list[str] = []
        order = ["thread", "component", "aligned", "dash", "program"]
        if "level" not in columns:
            order.insert(0, "level")
        has_level = "level" in columns
        for name in order:
            if name == "aligned" and (not has_level or "component" in chosen):
                continue
            if name == "program" and "dash" in chosen:
                continue
            pattern = re.compile(_TAILS[name])
            hits = 0
            for i, rest in enumerate(rests):
                m = pattern.match(rest)
                if m is not None:
                    hits += 1
                    rests[i] = rest[m.end() :]
            if hits >= TAIL_RATE * len(rests):
                chosen.append(name)
                has_level = has_level or name == "level"
        return chosen

    @staticmethod
    def _fixed_pattern(columns: Sequence[str]) -> str:
        """One group per column, named by its class (``time``, ``time_2``, ``free_4``...)."""
        parts = [r"\s*"]
        used: set[str] = set()
        for i, kind in enumerate(columns, start=1):
            name = kind if kind not in used and kind != "free" else f"{kind}_{i}"
            used.add(kind)
            token = _TOKEN if kind == "free" else _TERM if kind == "term" else _ANCHOR
            parts.append(f"(?P<{name}>{token})\\s+")
        return "".join(parts)

    @classmethod
    def _compile(cls, layout: HeaderLayout) -> re.Pattern[str]:
        if layout.delimiter:
            d = re.escape(layout.delimiter)
            return re.compile(f"(?:[^{d}\\n]*{d}){{{layout.fields}}}\\s*")
        tails = "".join(r"(?:" + _TAILS[name] + r")?" for name in layout.tails)
        return re.compile(cls._fixed_pattern(layout.columns) + tails)

    @property
    def frozen(self) -> bool:
        """True once the layout is final (``fit`` called or ``learn_lines`` lines seen)."""
        return self._frozen

    def message_start(self, line: str) -> int:
        """Offset where the message starts in ``line`` (0 when the layout does not fit).

        The cheap half of ``split`` for callers that need only the message: one ``match``,
        no header dictionary.
        """
        if self._regex is None:
            return 0
        m = self._regex.match(line)
        return 0 if m is None else m.end()

    def _apply(self, line: str) -> ParsedLine:
        if self._regex is None:
            return ParsedLine({}, line.strip())
        m = self._regex.match(line)
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
# Template mining
# ---------------------------------------------------------------------------------------------

_WORD = re.compile(r"[A-Za-z]+[.,:;]?")
_WORDS = re.compile(r"(?<!\S)[A-Za-z]+[.,:;]?(?!\S)")
_LETTER_RUN = re.compile(r"[A-Za-z]")
# A line's shape for the result caches: every digit read as "1". Mask and header patterns
# treat digits alike by position and count; only the "0x" hex prefix needs its zero kept.
# Bytes, because ``bytes.translate`` is a C table lookup, ~30x faster than ``str.translate``.
_SHAPE = bytes.maketrans(b"023456789", b"111111111")
_LONG_RUN = re.compile(rb"1{7,}")


def shape(text: str, *, collapse: bool = False) -> bytes:
    """``text`` with every digit as ``1`` (``0x``/``0X`` kept): the result caches' key.

    Lines of one shape split at the same offset and mask alike. With ``collapse`` digit runs
    over 6 are cut to 6 (no mask pattern bounds a run above 5, so they still mask alike),
    which merges more messages but moves offsets: only for keys that store no offset.
    """
    try:
        data = text.encode()
    except UnicodeEncodeError:  # lone surrogates; the fast codec path refuses them
        data = text.encode("utf-8", "surrogatepass")
    if b"0x" in data or b"0X" in data:
        data = data.replace(b"0x", b"\x00x").replace(b"0X", b"\x00X")
    data = data.translate(_SHAPE)
    if collapse and b"1111111" in data:
        data = _LONG_RUN.sub(b"111111", data)
    return data


class _MaskAwareDrain(Drain):
    """drain3's tree with a similarity that counts ``<*>`` against ``<*>`` as a match.

    Stock drain3 ignores template wildcards when scoring, so messages made mostly of masked
    values (``<*> Served block blk_<*> to /<*>``) look dissimilar to their own cluster and the
    threshold has to stay low, which merges distinct short messages. Counting pre-masked
    tokens as agreeing lets a higher threshold separate events without splitting them.
    """

    @staticmethod
    def has_numbers(s: str) -> bool:
        """Route a token holding a masked value (``alpha-<*>``, ``key=<*>``) through the
        prefix tree's wildcard branch, as drain3 does for tokens with digits: a leading
        token that carries a value must not split one event into one branch per value."""
        return PARAM in s or any(char.isdigit() for char in s)

    def get_seq_distance(
        self, seq1: Sequence[str], seq2: Sequence[str], include_params: bool
    ) -> tuple[float, int]:
        if not seq1:
            return 1.0, 0
        param = self.param_str
        sim = 0
        params = 0
        for t1, t2 in zip(seq1, seq2, strict=True):
            if t1 == t2:
                sim += 1
                if t1 == param:
                    params += 1
            elif t1 == param:
                params += 1
                if include_params:
                    sim += 1
        return sim / len(seq1), params


class MinedLine:
    """The result of mining one line.

    ``header`` is parsed on first access only: the miner's hot path needs the message alone,
    and building a header dictionary per line costs as much as the cache lookup it sits
    behind. ``masked`` is the message as drain3 saw it (``mask(message, typed=False)``).
    """

    __slots__ = (
        "cluster_id",
        "template",
        "message",
        "drain_id",
        "words",
        "masked",
        "_header",
        "_raw",
        "_model",
    )

    def __init__(
        self,
        cluster_id: int,
        template: str,
        header: dict[str, str] | None = None,
        message: str = "",
        drain_id: int = 0,
        words: tuple[str, ...] = (),
        masked: str = "",
        *,
        raw: str = "",
        model: HeaderModel | None = None,
    ) -> None:
        self.cluster_id = cluster_id
        self.template = template
        self.message = message
        self.drain_id = drain_id
        self.words = words
        self.masked = masked
        self._header = header
        self._raw = raw
        self._model = model

    @property
    def header(self) -> dict[str, str]:
        """The header fields of the raw line (``{}`` for a bare message)."""
        if self._header is None:
            self._header = self._model._apply(self._raw).header if self._model else {}
        return self._header

    def _fields(self) -> tuple[Any, ...]:
        return (
            self.cluster_id,
            self.template,
            self.header,
            self.message,
            self.drain_id,
            self.words,
            self.masked,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MinedLine):
            return NotImplemented
        return self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass it replaces

    def __repr__(self) -> str:
        return (
            f"MinedLine(cluster_id={self.cluster_id!r}, template={self.template!r}, "
            f"message={self.message!r}, drain_id={self.drain_id!r})"
        )


class TemplateMiner:
    """Online template miner: header split, masking, drain3, word refinement.

    Each ``add``/``add_message`` call decides the line's cluster when it arrives; that id is
    usable on its own. ``final_cluster_ids`` is an optional second pass over kept results.
    The returned ``cluster_id`` is the refined id: a drain3 cluster split by the
    message's plain alphabetic words, since messages that differ only in a word are different
    events in practice. ``template`` is drain3's template with those words put back.

    ``persistence_handler`` is passed to ``drain3.TemplateMiner`` unchanged; the refinement
    table is small and rebuilt as lines arrive after a restore.
    """

    def __init__(
        self,
        persistence_handler: Any = None,
        sim_th: float = SIM_TH,
        depth: int = DEPTH,
        max_children: int = MAX_CHILDREN,
        header_model: HeaderModel | None = None,
        cache_size: int = CACHE_SIZE,
    ) -> None:
        config = TemplateMinerConfig()
        config.drain_sim_th = sim_th
        config.drain_depth = depth
        config.drain_max_children = max_children
        config.parametrize_numeric_tokens = True
        config.masking_instructions = []  # masking is done by ``mask`` before drain3
        self._miner = Drain3Miner(persistence_handler, config)
        stock = self._miner.drain
        drain = _MaskAwareDrain(
            depth=depth,
            sim_th=sim_th,
            max_children=max_children,
            max_clusters=config.drain_max_clusters,
            profiler=stock.profiler,
            param_str=PARAM,
            parametrize_numeric_tokens=True,
        )
        drain.id_to_cluster = stock.id_to_cluster  # keep state restored by the handler
        drain.clusters_counter = stock.clusters_counter
        drain.root_node = stock.root_node
        self._miner.drain = drain
        self.header_model = header_model or HeaderModel()
        self._refined: dict[tuple[int, tuple[str, ...]], int] = {}
        self._templates: dict[int, str] = {}
        self.cache_size = cache_size
        self._line_cache: dict[bytes, tuple[int, int, int, tuple[str, ...]]] = {}
        self._message_cache: dict[bytes, tuple[int, int, tuple[str, ...]]] = {}

    @property
    def drain3(self) -> Drain3Miner:
        """The wrapped ``drain3.TemplateMiner`` (for persistence, ``match`` and inspection)."""
        return self._miner

    def add(self, line: str) -> MinedLine:
        """Mine one raw log line (header included).

        Fast path: once the header layout is final, a line whose *shape* (``shape``: every
        digit read as ``1``) was mined before gets that line's result without masking or
        drain3, which is what brings the miner to plain drain3's speed. Lines of one shape
        split at the same offset and mask alike, so they mine alike; the exception is digits
        glued to letters (``KB3121255``, ``bglio46``), which ``mask`` keeps: such lines get
        the first one's cluster (where drain3 would put them anyway, as one differing token
        among constant ones) and its template, which shows that first value rather than
        ``<*>``. drain3 also does not count cache hits in its cluster sizes (nothing reads
        them). ``Fingerprinter`` does not use this cache: it keys on the masked message.
        """
        model = self.header_model
        if not model.frozen:
            parsed = model.split(line)
            return self.add_message(parsed.message, parsed.header)
        key = shape(line)
        hit = self._line_cache.get(key)
        if hit is not None:
            start, cluster_id, drain_id, words = hit
            message = line[start:].strip() if start else line.strip()
            return MinedLine(
                cluster_id,
                self._templates[cluster_id],
                None,
                message,
                drain_id,
                words,
                raw=line,
                model=model,
            )
        start = model.message_start(line)
        message = line[start:].strip() if start else line.strip()
        # Lines of a new shape often carry a message of a known shape (the header varies).
        mined = self.add_message(message, None)
        mined._raw, mined._model = line, model
        cache = self._line_cache
        if len(cache) >= self.cache_size:
            del cache[next(iter(cache))]  # oldest first: cheap, and old shapes go stale first
        cache[key] = (start, mined.cluster_id, mined.drain_id, mined.words)
        return mined

    def add_message(self, message: str, header: dict[str, str] | None = None) -> MinedLine:
        """Mine a bare message (header already removed by the caller).

        A message whose shape was mined before gets that message's result (see ``add``).
        """
        key = shape(message, collapse=True)
        hit = self._message_cache.get(key)
        if hit is not None:
            cluster_id, drain_id, words = hit
            return MinedLine(
                cluster_id, self._templates[cluster_id], header, message, drain_id, words
            )
        mined = self._mine(message, header)
        cache = self._message_cache
        if len(cache) >= self.cache_size:
            del cache[next(iter(cache))]
        cache[key] = (mined.cluster_id, mined.drain_id, mined.words)
        return mined

    def _mine(self, message: str, header: dict[str, str] | None) -> MinedLine:
        masked = mask(message, typed=False)
        if self._miner.persistence_handler is None:
            # Same drain3 call the wrapper makes, minus its per-line bookkeeping (no masking
            # rules, no profiler, nothing to snapshot): the wrapper is a third of the cost.
            cluster, _ = self._miner.drain.add_log_message(masked)
            drain_id, template = cluster.cluster_id, cluster.get_template()
        else:
            result = self._miner.add_log_message(masked)
            drain_id, template = result["cluster_id"], result["template_mined"]
        words = tuple(_WORDS.findall(masked)) if _LETTER_RUN.search(masked) else ()
        key = (drain_id, words)
        cluster_id = self._refined.get(key)
        if cluster_id is None:
            cluster_id = self._refined[key] = len(self._refined) + 1
            if words and PARAM in template:
                template = self._restore_words(template, masked)
            self._templates[cluster_id] = template
        elif PARAM in template:
            template = self._templates[cluster_id]
        return MinedLine(cluster_id, template, header, message, drain_id, words, masked)

    @staticmethod
    def _restore_words(template: str, masked: str) -> str:
        """Put the words that define a refined cluster back into drain3's template."""
        template_tokens = template.split()
        tokens = masked.split()
        if len(template_tokens) != len(tokens):
            return template
        return " ".join(
            tok if tmpl == PARAM and _WORD.fullmatch(tok) else tmpl
            for tmpl, tok in zip(template_tokens, tokens, strict=True)
        )

    def final_cluster_ids(
        self, mined: Sequence[MinedLine], max_word_values: int = MAX_WORD_VALUES
    ) -> list[int]:
        """Optional second pass: re-key lines mined earlier, with all of them in view.

        Online, every distinct word splits a drain3 cluster. With all lines in view, a word
        position of a drain3 cluster that took more than ``MAX_WORD_VALUES`` distinct values is a
        parameter (``hive: SAM`` / ``SYSTEM`` / ``SOFTWARE``...), so it no longer splits. Only
        the grouping changes; drain3's state is not touched.
        """
        positioned = [
            tuple(
                (index, token)
                for index, token in enumerate(mask(line.message, typed=False).split())
                if _WORD.fullmatch(token)
            )
            for line in mined
        ]
        values: dict[tuple[int, int], set[str]] = {}
        for line, words in zip(mined, positioned, strict=True):
            for index, word in words:
                values.setdefault((line.drain_id, index), set()).add(word)
        ids: dict[tuple[int, tuple[str, ...]], int] = {}
        out = []
        for line, words in zip(mined, positioned, strict=True):
            kept = tuple(
                word
                for index, word in words
                if len(values[(line.drain_id, index)]) <= max_word_values
            )
            out.append(ids.setdefault((line.drain_id, kept), len(ids) + 1))
        return out
