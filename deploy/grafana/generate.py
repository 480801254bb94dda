"""Grafana dashboards as code (grafanalib): ``python deploy/grafana/generate.py`` writes
``deploy/grafana/dashboards/*.json``; ``--check`` exits 1 when the committed JSON differs.

Every panel queries metrics the app's ``/metrics`` exports (``tests/deploy/test_dashboards.py``
checks that, and that each expression parses with promtool). The datasource is the one
provisioned in ``deploy/grafana/provisioning/datasources/prometheus.yml`` (uid below).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from grafanalib._gen import DashboardEncoder
from grafanalib.core import Dashboard, GridPos, Stat, Target, Time, TimeSeries

OUT_DIR = Path(__file__).resolve().parent / "dashboards"
DATASOURCE = {"type": "prometheus", "uid": "aiops-prometheus"}
HEALTHY_AGENT = "max by (agent) (ai_ops_agent_heartbeat_age_seconds)"
DOWN_AFTER = "max(ai_ops_agent_down_after_seconds)"
SOLUTION_SUCCESS = (
    'sum(ai_ops_solution_outcomes{outcome="succeeded"}) / sum(ai_ops_solution_outcomes)'
)
PATTERN_ACCURACY = 'sum(ai_ops_pattern_matches{outcome="confirmed"}) / sum(ai_ops_pattern_matches)'
VERIFIED = "ai_ops_remediation_verified_total"


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""


def _targets(queries: list[Query]) -> list[Target]:
    return [
        Target(expr=q.expr, legendFormat=q.legend, refId=chr(ord("A") + i), datasource=DATASOURCE)
        for i, q in enumerate(queries)
    ]


def series(title: str, queries: list[Query], pos: GridPos, *, unit: str = "", **kw) -> TimeSeries:
    return TimeSeries(
        title=title, dataSource=DATASOURCE, targets=_targets(queries), gridPos=pos, unit=unit, **kw
    )


def stat(title: str, query: Query, pos: GridPos, *, unit: str = "none", **kw) -> Stat:
    return Stat(
        title=title, dataSource=DATASOURCE, targets=_targets([query]), gridPos=pos, format=unit,
        reduceCalc="lastNotNull", **kw,
    )  # fmt: skip


def overview() -> Dashboard:
    """The plan's five views (agent health, event rate, knowledge growth, solution success,
    pattern accuracy) plus consumer lag and remediation outcomes."""
    panels = [
        stat("Agents down", Query(
            f"count({HEALTHY_AGENT} > scalar({DOWN_AFTER})) or vector(0)"), GridPos(4, 4, 0, 0),
            thresholds=[{"color": "green", "value": None}, {"color": "red", "value": 1}]),
        stat("Solution success rate", Query(SOLUTION_SUCCESS),
            GridPos(4, 4, 4, 0), unit="percentunit"),
        stat("Pattern match accuracy", Query(PATTERN_ACCURACY),
            GridPos(4, 4, 8, 0), unit="percentunit"),
        stat("Dead letters waiting", Query("max(ai_ops_dead_letters_waiting)"),
             GridPos(4, 4, 12, 0),
             thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 1}]),
        stat("Knowledge nodes", Query(
            'sum(ai_ops_knowledge_nodes{kind=~"problems|solutions|patterns"})'),
            GridPos(4, 4, 16, 0)),
        stat("Errors / s", Query("sum(rate(ai_ops_errors_total[$__rate_interval])) or vector(0)"),
             GridPos(4, 4, 20, 0), unit="short"),
        series("Agent health: seconds since last heartbeat", [
            Query(HEALTHY_AGENT, "{{agent}}"), Query(DOWN_AFTER, "down after")],
            GridPos(8, 12, 0, 4), unit="s"),
        series("Event processing rate (events/s)", [
            Query("sum by (agent) (rate(ai_ops_events_processed_total[$__rate_interval]))",
                  "processed by {{agent}}"),
            Query("sum(rate(ai_ops_events_published_total[$__rate_interval]))", "published")],
            GridPos(8, 12, 12, 4), unit="short"),
        series("Knowledge graph growth", [
            Query("max by (kind) (ai_ops_knowledge_nodes)", "{{kind}}")],
            GridPos(8, 12, 0, 12)),
        series("Consumer lag", [
            Query("max by (group) (ai_ops_consumer_lag_seconds)", "{{group}} behind (s)"),
            Query("sum by (group) (ai_ops_stream_pending)", "{{group}} pending")],
            GridPos(8, 12, 12, 12)),
        series("Solution success rate and pattern accuracy", [
            Query(f'sum(increase({VERIFIED}{{outcome="succeeded"}}[1h]))'
                  f" / sum(increase({VERIFIED}[1h]))",
                  "verified fixes, last hour"),
            Query(SOLUTION_SUCCESS, "solutions, all time"),
            Query(PATTERN_ACCURACY, "pattern matches confirmed")],
            GridPos(8, 12, 0, 20), unit="percentunit", valueMin=0, valueMax=1),
        series("Remediation outcomes", [
            Query(f"sum by (outcome) (increase({VERIFIED}[$__rate_interval]))",
                  "{{outcome}}"),
            Query("sum by (status) (ai_ops_remediation_runs)", "runs {{status}}")],
            GridPos(8, 12, 12, 20)),
        series("Detected to verified (solution latency)", [
            Query("histogram_quantile(0.5, sum by (le) (rate(ai_ops_solution_latency_bucket"
                  "[$__rate_interval])))", "p50"),
            Query("histogram_quantile(0.9, sum by (le) (rate(ai_ops_solution_latency_bucket"
                  "[$__rate_interval])))", "p90")],
            GridPos(8, 12, 0, 28), unit="s"),
        series("Errors by component (per s)", [
            Query("sum by (component) (rate(ai_ops_errors_total[$__rate_interval]))",
                  "{{component}}")],
            GridPos(8, 12, 12, 28), unit="short"),
    ]  # fmt: skip
    return Dashboard(
        title="AI-Ops Core",
        uid="aiops-overview",
        tags=["aiops"],
        panels=panels,
        refresh="30s",
        time=Time("now-6h", "now"),
        timezone="utc",
    ).auto_panel_ids()


DASHBOARDS = {"aiops-overview.json": overview}


def render_all() -> dict[str, str]:
    """{file name: JSON text} exactly as committed."""
    return {
        name: json.dumps(build().to_json_data(), cls=DashboardEncoder, indent=2, sort_keys=True)
        + "\n"
        for name, build in DASHBOARDS.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    args = parser.parse_args(argv)
    stale = []
    for name, text in render_all().items():
        path = OUT_DIR / name
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        print(f"out of date (run {sys.argv[0]}): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
