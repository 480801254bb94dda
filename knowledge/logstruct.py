"""Structured log lines (JSON objects, logfmt ``key=value`` pairs): the message is one field.

A structured logger writes the event's text under a conventional key and everything else
(time, level, caller, request ids, durations) in fields of their own. The template of such a
line is the template of that text: the other fields are its header, wherever they sit in the
line and in whatever order. The keys looked for are the ones the common libraries and
shippers write: ``msg`` (Go's slog, zap, logrus and go-kit, Node's pino and bunyan),
``message`` (Logstash, Elastic ECS, Serilog's compact JSON), ``MESSAGE`` (journald's JSON
export), ``log`` (Docker's json-file driver), ``short_message`` (GELF) and ``@message``.

``detect`` decides from a sample of a source's lines (nearly all must be structured the same
way); ``message_of`` and ``fields_of`` read one line, falling back to the whole line for a
line that is not structured (a stack trace, a continuation).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence

MESSAGE_KEYS = ("msg", "message", "MESSAGE", "log", "short_message", "@message")
JSON = "json"
LOGFMT = "logfmt"

# One logfmt pair: a bare key, ``=``, then a quoted value (Go-style escapes) or a bare one.
_PAIR = re.compile(r'([\w.@/-]+)=("(?:[^"\\]|\\.)*"|[^\s"]*)(?=\s|$)')
_decoder = json.JSONDecoder()


def _json_record(line: str) -> dict | None:
    text = line.strip()
    if not (text.startswith("{") and text.endswith("}")):
        return None
    try:
        record = _decoder.decode(text)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _logfmt_pairs(line: str) -> dict[str, str] | None:
    """The pairs of a line made only of ``key=value`` pairs (``None`` if it is not one)."""
    text = line.strip()
    pairs: dict[str, str] = {}
    pos = 0
    while pos < len(text):
        m = _PAIR.match(text, pos)
        if m is None:
            return None
        pairs[m.group(1)] = m.group(2)
        pos = m.end()
        while pos < len(text) and text[pos] == " ":
            pos += 1
    return pairs or None


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        try:
            return str(json.loads(value))
        except ValueError:
            return value[1:-1]
    return value


def detect(lines: Sequence[str], rate: float) -> tuple[str, str] | None:
    """``(structure, message key)`` when at least ``rate`` of ``lines`` are JSON objects or
    logfmt lines carrying one same message key (the most common such key wins)."""
    if not lines:
        return None
    for structure, parse in ((JSON, _json_record), (LOGFMT, _logfmt_pairs)):
        keys: Counter[str] = Counter()
        for line in lines:
            record = parse(line)
            if record is not None:
                found = next((k for k in MESSAGE_KEYS if isinstance(record.get(k), str)), None)
                if found is not None:
                    keys[found] += 1
        if keys:
            key, count = keys.most_common(1)[0]
            if count >= rate * len(lines):
                return structure, key
    return None


def message_of(line: str, structure: str, key: str) -> str:
    """The message field of a structured line (the whole line, stripped, when it is not)."""
    if structure == JSON:
        record = _json_record(line)
        value = None if record is None else record.get(key)
        return value.strip() if isinstance(value, str) else line.strip()
    m = re.search(r"(?:^|\s)" + re.escape(key) + r'=("(?:[^"\\]|\\.)*"|[^\s"]*)', line)
    return _unquote(m.group(1)).strip() if m else line.strip()


def fields_of(line: str, structure: str, key: str) -> dict[str, str]:
    """The other fields of a structured line, as text (``{}`` when it is not structured)."""
    record: dict | None
    record = _json_record(line) if structure == JSON else _logfmt_pairs(line)
    if record is None:
        return {}
    return {
        k: (_unquote(v) if structure == LOGFMT else v) if isinstance(v, str) else json.dumps(v)
        for k, v in record.items()
        if k != key
    }
