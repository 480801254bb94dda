from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.template.loader import render_to_string

from dashboard import charts

ROOT = Path(__file__).resolve().parents[2]

T0 = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)


def test_a_time_series_spans_the_plot_and_labels_its_axes():
    points = [(T0 + timedelta(minutes=i), float(v)) for i, v in enumerate([0, 5, 10])]

    chart = charts.time_series({"errors": points})

    first, *_, last = chart.lines[0].points.split()
    assert first == f"{chart.plot_left}.0,{chart.plot_bottom}.0"
    assert last == f"{chart.plot_right}.0,{chart.plot_top}.0"
    assert [t.label for t in chart.x_ticks] == ["12:00:00", "12:01:00", "12:02:00 UTC"]
    assert [t.label for t in chart.y_ticks] == ["0", "5", "10"]


def test_an_empty_chart_says_so():
    assert charts.time_series({}).empty
    assert charts.time_series({"a": []}).empty


def test_a_sparkline_has_a_point_per_value():
    assert len(charts.sparkline([1, 2, 3]).split()) == 3
    assert charts.sparkline([]) == ""


def test_long_spans_label_minutes():
    points = [(T0, 1.0), (T0 + timedelta(hours=2), 2.0)]

    assert [t.label for t in charts.time_series({"a": points}).x_ticks] == [
        "12:00",
        "13:00",
        "14:00 UTC",
    ]


def test_the_edge_time_labels_grow_inwards_so_none_is_clipped():
    points = [(T0, 1.0), (T0 + timedelta(minutes=3), 2.0)]

    ticks = charts.time_series({"a": points}).x_ticks

    # Centred on the plot's right edge, half of "12:03:00" hung outside the SVG: "12:03:0".
    assert [t.anchor for t in ticks] == ["start", "middle", "end"]
    assert ticks[-1].pos == charts.WIDTH - charts.PAD_RIGHT


def test_a_single_point_is_a_dot_in_the_middle_labelled_with_its_own_time():
    chart = charts.time_series({"occurrences": [(T0, 3.0)]})

    middle = (chart.plot_left + chart.plot_right) / 2
    # Before: "12:00:00", "12:00:00" and "12:00:01 UTC", a second nobody saw, over a
    # one-point polyline, which draws nothing.
    assert [(t.label, t.pos, t.anchor) for t in chart.x_ticks] == [
        ("12:00:00 UTC", middle, "middle")
    ]
    assert chart.lines[0].dot == (middle, chart.plot_top)


def test_first_and_last_labels_that_coincide_are_said_once_in_the_middle():
    points = [(T0, 1.0), (T0 + timedelta(milliseconds=400), 2.0)]

    chart = charts.time_series({"a": points})

    assert [(t.label, t.anchor) for t in chart.x_ticks] == [("12:00:00 UTC", "middle")]
    assert chart.x_ticks[0].pos == (chart.plot_left + chart.plot_right) / 2
    first, last = chart.lines[0].points.split()  # the two points still span the plot
    assert first.startswith(f"{chart.plot_left}.0,") and last.startswith(f"{chart.plot_right}.0,")
    assert chart.lines[0].dot is None


def test_a_middle_label_that_repeats_an_edge_is_left_out():
    points = [(T0, 1.0), (T0 + timedelta(milliseconds=1500), 2.0)]

    ticks = charts.time_series({"a": points}).x_ticks

    assert [(t.label, t.anchor) for t in ticks] == [("12:00:00", "start"), ("12:00:01 UTC", "end")]


TICK_BOXES = """() => [...document.querySelectorAll("svg.chart")].map(svg => {
  const box = svg.viewBox.baseVal;
  return [...svg.querySelectorAll("text.tick")].map(t => {
    const b = t.getBBox();
    const axis = t.hasAttribute("dominant-baseline") ? "y" : "x";
    return {axis, label: t.textContent, left: b.x, right: b.x + b.width, width: box.width};
  });
})"""


@pytest.mark.browser
@pytest.mark.parametrize(
    "points",
    [
        [(T0, 3.0)],
        [(T0, 1.0), (T0 + timedelta(milliseconds=400), 2.0)],
        [(T0 + timedelta(minutes=i), float(i)) for i in range(3)],
        [(T0, 1.0), (T0 + timedelta(hours=2), 2.0)],
    ],
    ids=["one-point", "coinciding-ends", "minutes", "hours"],
)
def test_every_time_label_renders_whole_in_chromium(browser_page, points):
    chart = charts.time_series({"a": points})
    css = (ROOT / "static" / "css" / "app.css").read_text()
    svg = render_to_string("dashboard/charts.html#timeseries", {"chart": chart})
    browser_page.set_content(f"<style>{css}</style><main>{svg}</main>")

    (ticks,) = browser_page.evaluate(TICK_BOXES)

    assert [t["label"] for t in ticks if t["axis"] == "x"] == [t.label for t in chart.x_ticks]
    for tick in ticks:
        assert tick["left"] >= 0 and tick["right"] <= tick["width"], tick
    if len(points) == 1:
        assert browser_page.locator("svg.chart circle").count() == 1
