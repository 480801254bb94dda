"""deploy/prometheus/rules.yml: valid for promtool, its unit tests pass, and every metric it
names is one the app exports."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.deploy.promql import RULES, exported_names, metric_names, promtool, rule_expressions

pytestmark = pytest.mark.django_db(transaction=True)


def test_promtool_accepts_the_rules():
    result = promtool("check", "rules", str(RULES))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 9 rules found" in result.stdout


def test_the_rules_unit_tests_pass():
    result = promtool("test", "rules", str(RULES.with_name("rules_test.yml")))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_plan_s_alerts_are_there():
    assert {"AgentDown", "HighErrorRate", "ConsumerLagGrowing", "DeadLettersWaiting",
            "RemediationFailureRate", "AuditChainBroken", "PredictedIncident"} <= set(
        rule_expressions()
    )  # fmt: skip


def test_every_metric_a_rule_names_is_exported(live_server: Any):
    from remediation import audit_status

    audit_status.check_and_store()  # the chain gauges appear once it was verified
    page = httpx.get(f"{live_server.url}/metrics", timeout=10).text
    exported = exported_names(list(text_string_to_metric_families(page))) | {"up"}

    missing = {
        alert: names - exported
        for alert, expr in rule_expressions().items()
        if (names := metric_names(expr)) - exported
    }

    assert missing == {}
