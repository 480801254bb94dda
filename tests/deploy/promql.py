"""PromQL helpers for the deploy tests: promtool as the parser, metric names by elimination."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

PROMTOOL = "/usr/bin/promtool"
ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "rules.yml"

# Grafana fills these in before a query reaches Prometheus.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "1h"}
KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
            "group_left", "group_right", "inf", "nan"}  # fmt: skip


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60)


def check_expressions_parse(expressions: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    """promtool has no bare "parse this query" here (2.42), so each expression becomes a
    recording rule and ``promtool check rules`` parses them all."""
    rules = [{"record": f"check:expr_{i}", "expr": e} for i, e in enumerate(expressions)]
    path = tmp_path / "expressions.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "exprs", "rules": rules}]}))
    return promtool("check", "rules", str(path))


def metric_names(expr: str) -> set[str]:
    """Metric names an expression selects: strings, label matchers, ranges, grouping clauses,
    function calls and keywords removed, what is left are the selectors' names."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\b[a-zA-Z_][a-zA-Z0-9_]*\s*\(", "(", text)  # function names
    names = set(re.findall(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b", text))
    return {n for n in names if n.lower() not in KEYWORDS and not re.fullmatch(r"\d+\w*", n)}


def rule_expressions() -> dict[str, str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {rule["alert"]: rule["expr"] for group in groups for rule in group["rules"]}


def exported_names(families: list) -> set[str]:
    """Every name a query may select: sample names, and a family's names when it has no
    samples yet (a labelled counter before its first increment)."""
    names = set()
    for family in families:
        names.update(sample.name for sample in family.samples)
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"]}
        names.update(family.name + s for s in suffixes.get(family.type, [""]))
    return names
