"""Header layouts matched part by part agree with the whole compiled pattern.

The miner fits header tails and finds message offsets without compiling a layout's whole
regular expression (``knowledge.logheader_match``); these tests hold that shortcut to the
whole pattern's answer on every generated format and on lines that do not fit their layout.
"""

from __future__ import annotations

import re
from itertools import islice

import pytest

from benchmarks.logformat_holdout import HOLDOUT
from benchmarks.logformats import FORMATS, generate
from knowledge.logheader import LEARN_LINES, MAX_HEADER_COLUMNS, HeaderLayout, HeaderModel
from knowledge.logheader_rules import _TOKEN_SCAN

# Lines that break a layout: continuations, a bracket that a plain token must split, blanks.
ODD_LINES = [
    "",
    "   ",
    "\tat org.example.Foo.bar(Foo.java:42)",
    "[a b] [c d] e f g",
    "2024-03-01 08:00:01 [unclosed bracket x y z",
    'key="quoted value" 12 INFO rest of it',
    "12 13 14 15 16 17 18 19 20 21 22 23 24 25",
    "trailing spaces after tokens   ",
]


def _chained_tokens(line: str) -> list[str]:
    """The header sample's tokens as read before: one ``match`` at each previous end."""
    tokens: list[str] = []
    pos = 0
    while len(tokens) < MAX_HEADER_COLUMNS:
        m = _TOKEN_SCAN.match(line, pos)
        if m is None:
            break
        tokens.append(m.group(1))
        pos = m.end()
    return tokens


@pytest.mark.parametrize("name", [*FORMATS, *HOLDOUT])
def test_parts_end_where_the_whole_layout_ends(name: str) -> None:
    lines = [row[0] for row in generate(name, lines=400)] + ODD_LINES
    model = HeaderModel().fit(islice(lines, LEARN_LINES))
    if model.structured:  # JSON/logfmt: the message is a field, there is no layout
        assert model.message_start(lines[0]) == 0
        return
    layouts = [model.layout, HeaderLayout(list(model.layout.columns))]  # fitted, and columns only
    for layout in layouts:
        parts = HeaderModel._compile(layout)
        whole = re.compile(parts._full_pattern)
        for line in lines:
            m = whole.match(line)
            assert parts.match_end(line) == (None if m is None else m.end()), (name, line)
            assert parts.message_start(line) == (0 if m is None else m.end()), (name, line)


@pytest.mark.parametrize("name", [*FORMATS, *HOLDOUT])
def test_header_sample_is_tokenised_as_by_chained_matches(name: str) -> None:
    lines = [row[0] for row in generate(name, lines=200)] + ODD_LINES
    model = HeaderModel()
    for line in lines:
        model._observe(line)
    assert model._sample_tokens == [_chained_tokens(line) for line in lines]
    assert all(len(tokens) <= MAX_HEADER_COLUMNS for tokens in model._sample_tokens)
    assert model._sample_tokens[-2] == [str(n) for n in range(12, 24)]  # capped at 12 columns
