"""Typed masking of log messages and the digit-blind line shape used as a cache key.

``mask`` replaces variable tokens (URLs, e-mails, UUIDs, IPs, timestamps, paths, hex,
sizes/durations, numbers) so template mining compares messages by their constant words; a
grammar's values count too where they carry no digit to spot them by (``<id@host>``, a
systemd unit name) or carry digits glued to letters (the value of ``key=value``).
``shape`` maps every digit to ``1``: lines of one shape mask alike and split at the same
offset, which is what the result caches (``knowledge.shapecache``) key on.
"""

from __future__ import annotations

import functools
import re
from typing import Any

PARAM = "<*>"
TOKEN_CACHE_SIZE = 8192


_UNIT = r"(?:bytes?|[KMGT]i?B|B|ms|us|ns|secs?|seconds?|mins?|minutes?|hours?|days?)"
MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
WEEKDAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"

# (trigger, pattern, typed placeholder). A pattern runs only when its trigger substring occurs
# in the message (None: always), which keeps masking cheap on the common short messages.
_MASKS: list[tuple[str | None, re.Pattern[str], str]] = [
    ("://", re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s,;\"'<>()\[\]{}]+"), "<URL>"),
    # ``local@domain``: RFC 5322's addr-spec and msg-id (``<id@host>``), OpenSSH's user@host,
    # Java's ``Class@hash``; a one-label domain (``web-34``, RFC 5322 allows it) must start
    # with a letter, so ``00000001@2016/9/27`` stays a number and a date.
    (
        "@",
        re.compile(
            r"\b[\w.+-]+@(?:[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}|[A-Za-z][\w-]*)\b(?![.@-]?\w)"
        ),
        "<EMAIL>",
    ),
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
_METHODS = "GET|POST|PUT|DELETE|HEAD|PATCH|OPTIONS|CONNECT|TRACE"
_METHOD_HINT = re.compile(f"(?:{_METHODS}) ")
# A double-quoted text of several words is one value (an error text, a user agent, a name
# given by a user: Go's %q, Python's repr, nginx's quoted fields); a quoted single word is
# kept, since it is as often a constant keyword. An HTTP request line (``"GET /x HTTP/1.1"``,
# RFC 9112's request-line as the Common Log Format quotes it) names the event: not masked.
_QUOTED = re.compile(
    r'(?<![\w"])"(?!(?:' + _METHODS + r") )"
    r'(?:[^"\\\s]|\\.)*\s(?:[^"\\]|\\.)*"(?![\w"])'
)
#: An HTTP request line as access logs quote it (RFC 9112): group 1 is the request target.
REQUEST_LINE = re.compile(r'"(?:' + _METHODS + r') (\S+) HTTP/\d(?:\.\d)?"')
#: RFC 9112's ``method SP request-target`` where a framework prints it without the version,
#: bare or with the target quoted: Rails' ``Started GET "/orders/7"``, gin's ``| GET "/x"``,
#: morgan's and Phoenix's ``GET /orders/7``. Group 2 is an origin-form target (from ``/``).
METHOD_TARGET = re.compile(r"(?<!\S)(?:" + _METHODS + r') ("?)(/[^\s"]*)\1(?!\S)')
# A route segment of eight or more letters and digits mixed is an identifier (a slug, a
# short id, a hash in base 36 or 62), whatever the order of its letters and digits.
_SEGMENT_ID = re.compile(r"(?=[A-Za-z0-9]*\d)(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{8,}")
# A run of identical masked tokens is one variable-length list (``blk_<*> blk_<*> ...``).
# Quoted fields (``"<*>" "<*>"``: an access log's referer and user agent) are separate
# fields, not items of one list.
_REPEATS = re.compile(r"(?<!\S)(?!\")(\S*<[A-Z*]+>\S*)(?:\s+\1)+(?!\S)")


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
# Both start with a digit (or the ``<``/``>`` of a bound): the look-ahead turns every other
# position away with one character test instead of two look-behinds.
_SPANNING = re.compile(
    f"(?=[\\d<>])(?:(?P<m4>{_MASKS[4][1].pattern})|(?P<m13>{_MASKS[13][1].pattern}))"
)


def _spanning_hint(message: str) -> bool:
    """``any(hint in message for hint in _SPANNING_HINTS)``, unrolled (no generator)."""
    return (
        "B" in message
        or "byte" in message
        or "s " in message
        or "sec" in message
        or "min" in message
        or "hour" in message
        or "day" in message
    )


_CANDIDATE = re.compile(r"[\d@/\\]")
# A token with none of ``:``, ``/``, ``\\``, ``@`` cannot hold a URL, e-mail, ``HH:MM``, IPv6,
# host:port or path (each needs one of them as a literal): the alternation without those
# alternatives finds the same matches with fewer tries per position. Without ``-`` and ``.``
# as well, no UUID, IPv4 or date either. Group names keep their indices (``_typed``).
_MASK_PLAIN = re.compile(
    "|".join(f"(?P<m{i}>{_MASKS[i][1].pattern})" for i in (2, 3, 4, 11, 12, 13, 14))
)
_MASK_BARE = re.compile("|".join(f"(?P<m{i}>{_MASKS[i][1].pattern})" for i in (11, 12, 13, 14)))
# A systemd unit name (systemd.unit(5): a name, a dot and the unit type) is a value where
# systemd's messages print one (``nginx.service: Succeeded.``, ``Starting x.service...``);
# the type stays, it says what kind of unit. ``.path`` is left out: ``os.path``,
# ``request.path`` are constant names far more often than path units.
_UNIT_TYPES = r"(?:service|socket|timer|mount|automount|swap|target|slice|scope|device)"
_UNIT_HINT = re.compile(r"\." + _UNIT_TYPES + r"\b")
_UNIT = re.compile(r"(?<![\w.@\\-])[\w.@\\-]*[\w\\](?=\." + _UNIT_TYPES + r"(?![\w-]|\.\w))")
# Java's ``Object.toString()``: the class's full name, ``@`` and ``Integer.toHexString`` of the
# hash code (``android.os.BinderProxy@2bd79ce``, Zookeeper's ``QuorumPeer$QuorumServer@...``
# in Loghub, any JVM's objects). The hash is the value; the class names the object, so it
# stays, whichever digits the hash has (``...Pool@bc688778`` is no ``local@domain``).
_JAVA_OBJECT = re.compile(r"(?<![\w.$])((?:[a-z_][\w$]*\.)+[A-Z][\w$]*)@[0-9a-f]{1,8}(?![\w.@-])")
# The value of a ``key=value`` pair (logfmt, postfix, systemd's ``status=``, the kernel's)
# that holds a digit is a value as a whole (``mc=e08x``, ``ver=go1.21``,
# ``client=db-16.internal``, ``status=1/FAILURE``): digits glued to letters are kept elsewhere
# as part of a name, and the masks leave words around the digits they take, but after ``=``
# the token is a value by its grammar. Brackets stay (``from=<...>``, ``client=<*>[<*>]``);
# a value of letters only (``level=info``) is left to the second pass's many-values rule.
_PLACEHOLDER = re.compile(r"<[A-Z*]+>")
_KEY_VALUE = re.compile(
    r"(?:(?<=[\w.-]=)|(?<=[\w.-]=[<(\[\"']))(?:<[A-Z*]+>|[^\s,;=<>()\[\]{}\"'])+"
)


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
    if '"' in message:
        request = REQUEST_LINE.search(message)
        if request is not None:  # the target is a route: mask its values, keep its names
            return _around_target(message, *request.span(1), typed)
    if "/" in message and _METHOD_HINT.search(message) is not None:
        request = METHOD_TARGET.search(message)
        if request is not None:  # the same, where the method is a word of the message
            return _around_target(message, *request.span(2), typed)
    if '"' in message:
        message = _QUOTED.sub('"<STR>"' if typed else '"' + PARAM + '"', message)
    if "@" in message:
        message = _JAVA_OBJECT.sub(r"\1@<HEX>" if typed else r"\1@" + PARAM, message)
    if "." in message and _UNIT_HINT.search(message) is not None:
        message = _UNIT.sub("<UNIT>" if typed else PARAM, message)
    if _CANDIDATE.search(message) is None:
        return message
    repl: Any = _typed if typed else PARAM
    if ":" in message or _spanning_hint(message):
        message = _SPANNING.sub(repl, message)
    tokens = message.split(" ")
    mask_token = _mask_typed_token if typed else _mask_token
    search = _CANDIDATE.search
    for i, token in enumerate(tokens):
        if search(token) is not None:
            tokens[i] = mask_token(token)
    message = " ".join(tokens)
    if message.count(">") > 1 and _has_repeat(message):
        message = _REPEATS.sub(r"\1", message)
    return message


def _around_target(message: str, start: int, end: int, typed: bool) -> str:
    """``message`` masked with its request target at ``start:end`` masked as a route."""
    return (
        mask(message[:start], typed)
        + _mask_target(message[start:end], typed)
        + mask(message[end:], typed)
    )


def _mask_target(target: str, typed: bool) -> str:
    """A request target with its values masked segment by segment (``/orders/<NUM>``,
    ``/p?page=<*>``): the route names the event, as a word does in a message."""
    path, question, query = target.partition("?")
    segments = [
        (PARAM if not typed else "<ID>") if _SEGMENT_ID.fullmatch(seg) else mask(seg, typed)
        for seg in path.split("/")
    ]
    params = [
        f"{key}={PARAM if not typed else '<*>'}" if sep else key
        for key, sep, _ in (pair.partition("=") for pair in query.split("&"))
    ]
    return "/".join(segments) + question + ("&".join(params) if question else "")


# Tokens recur across messages (hosts, ports, paths, names with digits) far more than whole
# messages do: remembering the last few thousand spares most of the alternation's work.
def _alternation(token: str) -> re.Pattern[str]:
    """``_MASK_ALL``, or a shorter alternation with the same matches on ``token``."""
    if ":" in token or "/" in token or "\\" in token or "@" in token:
        return _MASK_ALL
    return _MASK_PLAIN if "-" in token or "." in token else _MASK_BARE


@functools.lru_cache(maxsize=TOKEN_CACHE_SIZE)
def _mask_token(token: str) -> str:
    token = _alternation(token).sub(PARAM, token)
    return _mask_values(token, PARAM) if "=" in token else token


@functools.lru_cache(maxsize=TOKEN_CACHE_SIZE)
def _mask_typed_token(token: str) -> str:
    token = _alternation(token).sub(_typed, token)
    return _mask_values(token, "<ID>") if "=" in token else token


def _mask_values(token: str, placeholder: str) -> str:
    """``token`` (masked) with each ``key=value`` value that held a digit as ``placeholder``:
    the masks took its digits into placeholders, or left them glued to letters."""

    def value(match: re.Match[str]) -> str:
        text = match.group()
        if _PLACEHOLDER.fullmatch(text):  # one masked value already: keep its type
            return text
        return placeholder if "<" in text or _HAS_DIGIT.search(text) else text

    return _KEY_VALUE.sub(value, token)


def clear_caches() -> None:
    """Forget remembered tokens (what a new process starts with; for benchmarks and tests)."""
    _mask_token.cache_clear()
    _mask_typed_token.cache_clear()


def _has_repeat(message: str) -> bool:
    """Whether two neighbouring tokens are one masked token twice: ``_REPEATS`` can match
    only then, and this test is several times cheaper than the regex's failing search."""
    tokens = message.split()
    following = tokens[1:]
    if not any(map(str.__eq__, tokens, following)):  # in C: most messages stop here
        return False
    return any(a == b and ">" in a for a, b in zip(tokens, following, strict=False))


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
