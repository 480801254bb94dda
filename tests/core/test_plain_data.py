"""Stored JSON as a person reads it: labels, lists, yes/no, times, links, and always escaped."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from core.plain_data import LIST_ITEMS, label, number, one_line, render


def test_keys_read_as_labels():
    assert label("affected_users") == "Affected users"
    assert label("baseline_mean_ms") == "Baseline mean (ms)"
    assert label("event_ids") == "Event IDs"
    assert label("bookmarkCount") == "Bookmark count"
    assert label("") == "(no name)"
    # Keys that are data, not names in code, are shown as written.
    assert [label("web-2"), label("X-Request-Id"), label("a.b")] == ["web-2", "X-Request-Id", "a.b"]


def test_numbers_lose_float_noise():
    assert [number(12.0), number(0.91349), number(3), number(0.00004)] == [
        "12", "0.913", "3", "4e-05",
    ]  # fmt: skip


def test_nested_evidence_is_a_definition_list_without_dict_text():
    html = render({
        "affected_users": 12, "rolling": True, "dry": False,
        "trigger": {"error_type": "ReadTimeout", "bookmark_count": 20000},
        "similar": [{"problem": 4, "title": "Import timeout", "score": 0.913}],
    })  # fmt: skip

    assert "<dt>Affected users</dt><dd>12</dd>" in html
    assert "<dt>Rolling</dt><dd>yes</dd>" in html and "<dt>Dry</dt><dd>no</dd>" in html
    assert "<dt>Error type</dt>" in html and "<dt>Bookmark count</dt><dd>20000</dd>" in html
    assert '<ul class="data"><li><dl class="data">' in html and "<dd>0.913</dd>" in html
    for raw in ("{", "}", "[{", "': '", "True", "False"):
        assert raw not in html


def test_user_written_strings_are_escaped():
    html = render({"<b>key</b>": ['<script>alert("x")</script>', {"m": "<img src=x onerror=y>"}]})

    assert "<script>" not in html and "<img" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=y&gt;" in html
    assert "<dt>&lt;b&gt;key&lt;/b&gt;</dt>" in html


def test_empty_values_say_none():
    for empty in (None, "", [], {}):
        assert render(empty) == '<span class="data-empty">none</span>'
    assert '<dt>Instances</dt><dd><span class="data-empty">none</span></dd>' in render(
        {"instances": []}
    )


def test_a_none_in_a_list_never_reads_as_python_none():
    # An anomaly's "expected_range" of [None, None] read "Expected range: None, None".
    html = render({"expected_range": [None, None], "bounds": [1, None]})

    assert "None" not in html
    assert '<dt>Expected range</dt><dd><span class="data-empty">none</span></dd>' in html
    assert '1, <span class="data-empty">none</span>' in html
    assert "None" not in one_line({"expected_range": [None, None]})


def test_long_lists_are_shortened_and_scalars_stay_on_one_line():
    ids = [f"evt-{n}" for n in range(LIST_ITEMS + 5)]
    html = render(ids)

    assert html.startswith('<span class="data-list"><span class="data-text">evt-0</span>, ')
    assert "evt-0" in html and f"evt-{LIST_ITEMS - 1}" in html
    assert f"evt-{LIST_ITEMS}<" not in html and f"evt-{LIST_ITEMS}," not in html
    assert html.endswith(" and 5 more</span>")
    nested = render([{"a": n} for n in range(LIST_ITEMS + 2)])
    assert nested.count("<li>") == LIST_ITEMS and '<li class="muted">and 2 more</li>' in nested


def test_iso_times_read_as_ago_with_the_exact_time_on_hover():
    moment = timezone.now() - timedelta(minutes=3, seconds=5)
    html = render({"minute": moment.isoformat(), "expires_at": str(moment), "note": "2026-13-99"})

    assert html.count("3\N{NO-BREAK SPACE}minutes\N{NO-BREAK SPACE}ago</time>") == 2
    assert "2026-13-99" in html  # not a time: said as written


def test_ids_of_known_objects_link_when_a_url_name_is_given(db):
    from knowledge.models import Problem

    problem = Problem.objects.create(fingerprint="plain-data:1", title="x")
    html = render(
        {"problem": problem.pk, "corroborating_problems": [problem.pk], "other": problem.pk},
        links={"problem": "dashboard:problem", "corroborating_problems": "dashboard:problem",
               "other": "no-such:url"},
    )  # fmt: skip

    assert html.count(f'<a href="/problems/{problem.pk}/">{problem.pk}</a>') == 2
    assert f"<dt>Other</dt><dd>{problem.pk}</dd>" in html  # an unknown URL name: no link


def test_deep_nesting_is_said_in_one_line():
    deep: dict = {"leaf": "end"}
    for n in range(8):
        deep = {f"level_{n}": deep}
    html = render(deep)

    assert "Level 1: Level 0: Leaf: end" in html and "{" not in html


def test_a_metric_series_reads_as_the_pages_say_it():
    html = render({"series": "api.latency_ms{endpoint=/import}", "note": "a {b} c"})

    assert "api.latency_ms (endpoint=/import)" in html
    assert "a {b} c" in html  # only a series' labels are said so; other text as written


def test_one_line_says_nested_data_without_brackets_and_cuts_it():
    from core.plain_data import one_line

    text = one_line({"error_type": "ReadTimeout", "retryable": False, "tags": ["a", "b"]})

    assert text == "Error type: ReadTimeout; Retryable: no; Tags: a, b"
    assert one_line({"message": "x" * 50}, 20) == "Message: " + "x" * 10 + "…"
    assert one_line({}) == "none"
