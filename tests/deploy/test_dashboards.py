"""Grafana dashboards as code: the committed JSON is the generator's output, every panel's
query parses, and names only metrics the running app's /metrics exports."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.deploy.promql import (
    GRAFANA_VARIABLES,
    ROOT,
    check_expressions_parse,
    exported_names,
    metric_names,
)

GENERATOR = ROOT / "deploy" / "grafana" / "generate.py"


def load_generator() -> Any:
    spec = importlib.util.spec_from_file_location("grafana_generate", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def panel_queries() -> dict[str, list[str]]:
    """{panel title: its expressions, Grafana variables filled in} over every dashboard."""
    queries: dict[str, list[str]] = {}
    for path in sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            exprs = [t["expr"] for t in panel.get("targets", [])]
            for variable, value in GRAFANA_VARIABLES.items():
                exprs = [e.replace(variable, value) for e in exprs]
            queries[panel["title"]] = exprs
    return queries


def test_the_committed_dashboards_are_the_generator_s_output():
    rendered = load_generator().render_all()

    assert rendered  # at least one dashboard
    for name, text in rendered.items():
        assert (GENERATOR.parent / "dashboards" / name).read_text() == text, f"regenerate {name}"


def test_the_dashboards_cover_the_plan_s_views():
    titles = " | ".join(panel_queries()).lower()

    for view in ("agent health", "event processing rate", "knowledge graph growth",
                 "solution success rate", "pattern match accuracy", "consumer lag",
                 "remediation outcomes"):  # fmt: skip
        assert view in titles


def test_every_panel_query_parses(tmp_path: Path):
    expressions = [e for exprs in panel_queries().values() for e in exprs]

    result = check_expressions_parse(expressions, tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(expressions)} rules found" in result.stdout


def test_a_broken_query_is_caught(tmp_path: Path):
    result = check_expressions_parse(["sum by (agent (ai_ops_errors_total)"], tmp_path)

    assert result.returncode != 0


@pytest.mark.django_db(transaction=True)
def test_every_panel_names_only_exported_metrics(live_server: Any):
    page = httpx.get(f"{live_server.url}/metrics", timeout=10).text
    exported = exported_names(list(text_string_to_metric_families(page)))

    missing = {
        title: sorted(names - exported)
        for title, exprs in panel_queries().items()
        if (names := set().union(*map(metric_names, exprs))) - exported
    }

    assert missing == {}
    assert "ai_ops_knowledge_nodes" in exported and "ai_ops_solution_latency_bucket" in exported
