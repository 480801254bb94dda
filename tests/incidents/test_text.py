"""Plain-language titles and sentences: no template tokens, no doubled prefixes, no dicts."""

from __future__ import annotations

import pytest

from knowledge.incident_text import evidence_phrase, hypothesis_sentence, incident_title, readable
from knowledge.models import folds_a_word
from knowledge.services.incidents import naming_the_exception


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


@pytest.mark.parametrize(
    ("line", "template", "folded"),
    [
        # The user slot folded: the line names one user of many.
        ("Accepted publickey for bob from <*> port <*> ssh2",
         "Accepted publickey for <*> from <*> port <*> ssh2", True),
        ("login user=bob failed", "login user=<*> failed", True),
        # Slots only where the line has a masked value anyway: nothing folded.
        ("Accepted publickey for alice from <*> port <*> ssh2",
         "Accepted publickey for alice from <*> port <*> ssh2", False),
        # A value the template kept where the line's is masked does not count either way.
        ("Accepted publickey for bob from <*> port <*> ssh2",
         "Accepted publickey for <*> from 10.0.1.7 port 22 ssh2", True),
        ("Accepted publickey for bob from <*> port <*> ssh2",
         "Accepted publickey for bob from 10.0.1.7 port 22 ssh2", False),
        # Another word, or another length, is another event.
        ("Rejected publickey for bob from <*> port <*> ssh2",
         "Accepted publickey for <*> from <*> port <*> ssh2", False),
        ("Accepted publickey for bob smith from <*>", "Accepted publickey for <*> from <*>", False),
    ],
)  # fmt: skip
def test_a_template_folds_a_word_of_the_line(line, template, folded):
    assert folds_a_word(line, template) is folded


def test_a_folded_problem_names_the_incident_by_its_title():
    title = incident_title(
        problem_title="Accepted publickey for <*> from <*> port <*> ssh2",
        problem_fingerprint="tpl:abc", catalogue_title=None, general=True,
        message="Accepted publickey for bob from 10.0.2.7 port 22 ssh2",
    )  # fmt: skip
    assert title == "Accepted publickey for … from … port … ssh2"


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


def test_a_diagnosis_evidence_reads_as_sentences():
    from knowledge.incident_text import evidence_sentences

    sentences, rest = evidence_sentences({
        "message": "ReadTimeout: ReadTimeout: feed <*> took <*>s",
        "event_ids": ["e1", "e2", "e3"],
        "instances": {"web-2": 3, "web-1": 12},
        "affected_users": 12,
        "trigger": {"error": "ReadTimeout", "bookmark_count": 20000},
        "similar": [{"problem": 4, "title": "Import worker <*> timeout", "score": 0.913}],
        "corroborating_problems": [3, 9],
        "corroboration": [
            {"problem": 9, "message": "Anomaly on api.latency_ms", "confidence": 0.4,
             "event": "e9", "type": "anomaly.detected", "raised_to": 0.93},
            {"problem": 3, "message": "pool exhausted", "confidence": 0.55},
        ],
        "new_key": {"nested": [1, 2]},
    })  # fmt: skip

    assert sentences == [
        "The error read: \u201cReadTimeout: feed … took …s\u201d",
        "Seen on web-1 (12 times) and web-2 (3).",
        "12 users affected.",
        "Drawn from 3 events.",
        "Similar known problems: Import worker … timeout (91%).",
        "Also seen: Anomaly on api.latency_ms (raised confidence to 93%).",
        "Also seen: pool exhausted (55% confident on its own).",
    ]
    assert rest == {"trigger": {"error": "ReadTimeout", "bookmark_count": 20000},
                    "new_key": {"nested": [1, 2]}}  # fmt: skip


def test_odd_evidence_values_are_said_or_left_out_never_dumped():
    from knowledge.incident_text import evidence_sentences

    sentences, rest = evidence_sentences({
        "instances": {"": 1}, "affected_users": 0, "similar": [], "event_ids": ["e"] * 50,
        "root_cause": "Import worker memory leak", "trigger": {},
    })  # fmt: skip

    assert sentences == [
        "Diagnosed cause: Import worker memory leak.",
        "Seen on an unnamed instance (once).",
        "No signed-in users affected.",
        "Drawn from 50 or more events.",
        "No similar known problems.",
    ]
    assert rest == {}
    assert evidence_sentences(None) == ([], {})
    assert evidence_sentences({"instances": "web-1", "affected_users": True}) == ([], {})


def test_cause_class_evidence_reads_as_phrases():
    assert evidence_phrase({"kind": "exception-type", "type": "MemoryError"}) == (
        "a MemoryError was raised"
    )
    assert evidence_phrase({"kind": "message", "words": "timed out"}) == (
        "the error says \u201ctimed out\u201d"
    )
    assert evidence_phrase({"kind": "concurrent-errors", "count": 4, "service": "web"}) == (
        "4 errors at the same time on web"
    )
    # A known kind missing the field its phrase needs, and an unknown kind: labelled words.
    assert evidence_phrase({"kind": "workload", "items": 5000}) == "Workload: items 5000"
    assert evidence_phrase({"kind": "odd_thing", "rate_ms": 1.5, "ok": True}) == (
        "Odd thing: rate (ms) 1.5, ok yes"
    )


def test_brief_evidence_leaves_out_what_the_title_already_says():
    from knowledge.incident_text import evidence_sentences

    evidence = {"root_cause": "Import timeout", "message": "ReadTimeout", "affected_users": 2}

    assert evidence_sentences(evidence, brief=True) == (["2 users affected."], {})


def test_an_anomaly_trigger_says_how_far_the_metric_was_from_usual():
    from knowledge.incident_text import evidence_sentences

    # "Anomaly on api.error_rate" named the metric; only the raw trigger said how far off.
    rising = {"trigger": {"series": "api.error_rate", "value": 0.683, "expected": 0.154}}
    falling = {"trigger": {"series": "search.replicas", "value": 1, "expected": 2}}

    assert evidence_sentences(rising)[0] == [
        "api.error_rate was 0.683 where about 0.154 is usual (4.4 times as high)."
    ]
    assert evidence_sentences(falling)[0] == [
        "search.replicas was 1 where about 2 is usual (2 times lower)."
    ]
    assert evidence_sentences({"trigger": {"error": "Timeout", "value": 3}})[0] == []


@pytest.mark.parametrize(
    ("line", "exception", "expected"),
    [
        # A server error's line says where; its exception says what.
        (
            "Internal Server Error: GET /items/{id}",
            {
                "type": "builtins.ConnectionRefusedError",
                "message": "[Errno 111] Connection refused",
            },
            "Internal Server Error: GET /items/{id} (ConnectionRefusedError: [Errno <*>] "
            "Connection refused)",
        ),
        (
            "Internal Server Error: GET /x",
            {"type": "app.Boom", "message": ""},
            "Internal Server Error: GET /x (Boom)",
        ),
        # A line that names the exception already, or no exception: the line as it is.
        (
            "KeyError: 'folder' in to_representation",
            {"type": "KeyError", "message": "'folder'"},
            "KeyError: 'folder' in to_representation",
        ),
        ("disk full on /var", None, "disk full on /var"),
        ("disk full on /var", {"message": "no type"}, "disk full on /var"),
        ("", {"type": "KeyError", "message": "x"}, ""),
    ],
)
def test_a_title_names_the_exception_the_line_does_not(line, exception, expected):
    assert naming_the_exception(line, exception) == expected
