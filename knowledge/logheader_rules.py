"""The token classes, tails and versions of learned header layouts (``knowledge.logheader``).

Stored layouts compile with the patterns of the rules version they were fitted with, so a
service's split, and so its fingerprints, never moves under it when the rules change.
"""

from __future__ import annotations

import re

from knowledge.logmask import MONTH, WEEKDAY

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
    r"|" + MONTH + r"|" + WEEKDAY + r")"
)
_NUM_V2 = r"[-+]?\d+(?:\.\d+)?"
# Version 3: a C-style hex literal is a number (thread and activity ids: macOS ``log show``,
# Windows and Go traces), and a time of day may carry its zone offset (ISO 8601 allows
# ``08:00:03.214+01:00``; macOS writes ``+0100``).
_NUM = r"(?:" + _NUM_V2 + r"|0[xX][0-9a-fA-F]+)"  # decimal first: the usual case
_TS_V2 = _TS
_TS = _TS.replace(
    r"|\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?",
    r"|\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?",
    1,
)
# Token classes that mark a header column; everything else is "free" text.
_CLASS_PATTERNS: list[tuple[str, str]] = [
    ("level", r"(?:" + _LEVEL + r"|\[" + _LEVEL + r"\]|<" + _LEVEL + r">)[:,]?"),
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
# Version 3: ``file:line:`` closes a header too (the GNU coding standards' ``source:line:``
# prefix, Go's ``log.Lshortfile``, Python's warnings).
_TERM_V2 = r"(?:[^\s:]*[^\s:/]:|[^\w\s\[\]()\"']{1,3})"
_TERM = r"(?:[^\s:]*[^\s:/](?::\d+)*:|[^\w\s\[\]()\"']{1,3})"
_TERMINATOR = re.compile(_TERM)
# Version 3: ``-`` is the empty value of a field (the Common Log Format's ident and user,
# RFC 5424's NILVALUE, W3C extended logs), so a column of dashes matches any one token: the
# lines where that field holds a value (a user name, RFC 5424 structured data) split like the
# others.
_DASH = _TOKEN
_CLASS_RES = [(name, re.compile(pat)) for name, pat in _CLASS_PATTERNS]
_ANCHOR = r"(?:" + r"|".join(pat for _, pat in _CLASS_PATTERNS) + r")"
# The anchor of layouts fitted before version 3 (see ``RULES_VERSION``).
_ANCHOR_V2 = _ANCHOR.replace(_TS + r"[,;]?", _TS_V2 + r"[,;]?", 1).replace(
    _NUM + r"[,;]?", _NUM_V2 + r"[,;]?", 1
)
_TOKEN_SCAN = re.compile(r"\s*(" + _TOKEN + r")")
_COMPONENT = r"[\w.$@#/\\()\[\]{}<>*=,+-]*[\w)\]}>]"
_TAILS: dict[str, str] = {
    "level": r"(?P<level>" + _LEVEL + r"|\[" + _LEVEL + r"\])[:,]?\s+",
    "thread": r"(?P<thread>" + _BRACKET + r"(?:\s*" + _BRACKET + r")*)\s*",
    # A logger name then a bracketed context after the level: oslo.log's ``%(levelname)s
    # %(name)s [%(request_id)s ...]``, log4j2's documented ``%d %p %c{1.} [%t] %m``.
    "context": r"(?P<logger>[A-Za-z_][\w.$-]*)\s+(?P<context>" + _BRACKET + r")\s*",
    "component": r"(?P<component>" + _COMPONENT + r"):(?:\s+|$)",
    "dash": r"-\s+",
    # A name of one to three tokens before a spaced dash: log4j/logback ``%t %c - %m`` with
    # unbracketed thread names ("main", "Reference Handler"), Proxifier's "prog.exe *64 - ".
    "program": r"(?P<program>[^\s:\[\]]+(?:\s[^\s:\[\]]+){0,2})\s-\s+",
}
# Compiled once at import: fitting tries every tail on every sample line of every source.
_TAIL_RES = {name: re.compile(pattern) for name, pattern in _TAILS.items()}

# Layouts stored before ``RULES_VERSION`` 2 were fitted with two rules that served one Loghub
# system each and changed no grouping when left out (leave-one-system-out, both label sets):
# one-letter logcat levels (``D``; logcat's ``Tag:`` column closes the header anyway) and a
# column-aligned component after the level (Windows CBS). Stored layouts are used as they
# are (``knowledge.fingerprint_headers``), so old ones still compile as they did: a service's
# split, and so its fingerprints, must not move under it.
# Version 3 widened the anchor (hex numbers, zoned times of day): version-2 layouts compile
# with ``_ANCHOR_V2``.
RULES_VERSION = 3
_LEGACY_LEVEL = r"(?:" + _LEVEL + r"|\[" + _LEVEL + r"\]|<" + _LEVEL + r">|[VDIWEFA])[:,]?"
_LEGACY_TAILS = {**_TAILS, "aligned": r"(?P<component>[\w.$-]+)\s{2,}"}
_LEGACY_ANCHOR = _ANCHOR_V2.replace(_CLASS_PATTERNS[0][1], _LEGACY_LEVEL, 1)


# All classes in one alternation: ``fullmatch`` backtracks into the next alternative when one
# cannot span the token, so the first class (in list order) that matches whole wins, as a
# loop over ``_CLASS_RES`` would decide, in one call instead of up to five.
_CLASS_ANY = re.compile("|".join(f"(?P<{name}>{pattern})" for name, pattern in _CLASS_PATTERNS))


def _classify(token: str) -> str:
    m = _CLASS_ANY.fullmatch(token)
    return "free" if m is None else m.lastgroup  # type: ignore[return-value]
