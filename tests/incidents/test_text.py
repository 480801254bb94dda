"""Plain-language titles and sentences: no template tokens, no doubled prefixes, no dicts."""

from __future__ import annotations

import pytest

from knowledge.incident_text import evidence_phrase, hypothesis_sentence, incident_title, readable


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("HTMLParseError: HTMLParseError: bad tag <*> at line <*>",
         "HTMLParseError: bad tag … at line …"),
        ("Import job <*> timed out after <*> <*> while processing",
         "Import job … timed out after … while processing"),
        ("<*>", "…"),
        ("", "Unrecognised error"),
    ],
)  # fmt: skip
def test_templates_read_without_tokens(template, expected):
    assert readable(template) == expected


def test_a_catalogue_match_names_the_incident():
    title = incident_title(
        problem_title="MemoryError: <*>", problem_fingerprint="tpl:abc",
        catalogue_title="Import worker memory leak", message="MemoryError: <*>",
    )  # fmt: skip
    assert title == "Import worker memory leak"


def test_a_learned_template_is_summarised():
    title = incident_title(
        problem_title="x", problem_fingerprint="tpl:abc", catalogue_title=None,
        message="SoftTimeLimitExceeded: SoftTimeLimitExceeded: batch <*> took <*>s" + " y" * 99,
    )  # fmt: skip
    assert "<*>" not in title and title.startswith("SoftTimeLimitExceeded: batch …")
    assert len(title) <= 120 and title.endswith("…")


def test_hypotheses_read_as_sentences_without_dicts():
    sentence = hypothesis_sentence({
        "cause": "Import worker memory leak", "kind": "known-problem", "score": 2.1,
        "evidence": [{"kind": "similar-problem", "problem": 4, "similarity": 0.91},
                     {"kind": "anomaly", "event": "01J", "series": "memory_mb{import-worker}"}],
    })  # fmt: skip
    assert sentence == (
        "It looks like a known problem: Import worker memory leak (the error reads 91% like "
        "it; an anomaly on memory_mb(import-worker))."
    )
    assert "{" not in evidence_phrase({"kind": "odd", "x": {"a": 1}})
