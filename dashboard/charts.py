"""Server-rendered SVG charts: readable without JavaScript, no chart library.

Each function returns the numbers a template draws (``templates/dashboard/charts.html``),
so the geometry is testable and the markup stays in templates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

WIDTH, HEIGHT = 900, 180
PAD_LEFT, PAD_BOTTOM, PAD_TOP, PAD_RIGHT = 44, 22, 8, 8
SPARK_WIDTH, SPARK_HEIGHT = 120, 24
SECONDS_LABEL_SPAN = 600  # shorter spans label their ticks with seconds
PALETTE = ("#2f7ed8", "#d9822b", "#2e9e5b", "#c23b3b", "#8e5bd1", "#6b7b8c")


@dataclass
class Line:
    label: str
    points: str  # SVG polyline "x,y x,y"
    colour: str
    last: float
    # A polyline of one point draws nothing: a lone point is drawn as a dot instead.
    dot: tuple[float, float] | None = None


@dataclass
class Tick:
    pos: float
    label: str
    # The first and last time labels sit at the plot's edges: centred, half of each hung past
    # the chart and was clipped ("22:38:0"). They grow inwards instead.
    anchor: str = "middle"


@dataclass
class Chart:
    width: int = WIDTH
    height: int = HEIGHT
    lines: list[Line] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    plot_left: int = PAD_LEFT
    plot_right: int = WIDTH - PAD_RIGHT
    plot_top: int = PAD_TOP
    plot_bottom: int = HEIGHT - PAD_BOTTOM
    empty: bool = True
    title: str = ""


def _fmt(value: float) -> str:
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def time_series(series: dict[str, Sequence[tuple[datetime, float]]], *, title: str = "") -> Chart:
    """A time series chart with axes: one polyline per named series, shared scales."""
    chart = Chart(title=title)
    all_points = [p for points in series.values() for p in points]
    if not all_points:
        return chart
    chart.empty = False
    t0 = min(t for t, _ in all_points).timestamp()
    t1 = max(t for t, _ in all_points).timestamp()
    span = (t1 - t0) or 1.0  # one moment: x() centres it
    top = max(max(v for _, v in all_points), 1.0)
    plot_w = chart.plot_right - chart.plot_left
    plot_h = chart.plot_bottom - chart.plot_top

    def x(t: float) -> float:
        if t1 == t0:  # one moment: in the middle, where its label has room on both sides
            return round(chart.plot_left + plot_w / 2, 1)
        return round(chart.plot_left + (t - t0) / span * plot_w, 1)

    def y(v: float) -> float:
        return round(chart.plot_bottom - v / top * plot_h, 1)

    for index, (label, points) in enumerate(series.items()):
        coords = " ".join(f"{x(t.timestamp())},{y(v)}" for t, v in points)
        last = points[-1][1] if points else 0.0
        dot = (x(points[0][0].timestamp()), y(points[0][1])) if len(points) == 1 else None
        chart.lines.append(Line(label, coords, PALETTE[index % len(PALETTE)], last, dot))
    chart.y_ticks = [Tick(y(top * f), _fmt(top * f)) for f in (0, 0.5, 1)]
    chart.x_ticks = _time_ticks(t0, t1, all_points[0][0].tzinfo, x)
    return chart


def _time_ticks(
    t0: float, t1: float, zone: tzinfo | None, x: Callable[[float], float]
) -> list[Tick]:
    """Start, middle and end of the span, the last saying the zone (one per chart); the
    edge labels grow inwards. A span whose ends read the same clock time (one point, or
    points within a second) gets one label, centred: an edge label alone would name a
    moment nobody saw ("12:00:01" after a point at 12:00:00), and a repeat says nothing."""
    span = t1 - t0
    time_format = "%H:%M:%S" if span < SECONDS_LABEL_SPAN else "%H:%M"

    def label(t: float, *, zoned: bool = False) -> str:
        moment = datetime.fromtimestamp(t, tz=zone)
        name = moment.tzname() if zoned else None
        return moment.strftime(time_format) + (f" {name}" if name else "")

    if label(t0) == label(t1):
        middle = (t0 + t1) / 2
        return [Tick(x(middle), label(middle, zoned=True))]
    ticks = [Tick(x(t0), label(t0), "start")]
    middle = (t0 + t1) / 2
    if label(middle) not in (label(t0), label(t1)):
        ticks.append(Tick(x(middle), label(middle)))
    return [*ticks, Tick(x(t1), label(t1, zoned=True), "end")]


def sparkline(values: Sequence[float]) -> str:
    """Polyline points for a small inline trend (no axes)."""
    if not values:
        return ""
    top = max(max(values), 1e-9)
    step = SPARK_WIDTH / max(len(values) - 1, 1)
    return " ".join(
        f"{round(i * step, 1)},{round(SPARK_HEIGHT - 2 - v / top * (SPARK_HEIGHT - 4), 1)}"
        for i, v in enumerate(values)
    )
