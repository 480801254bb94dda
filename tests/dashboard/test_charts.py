from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dashboard import charts

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
