"""/metrics: the plan's metrics and the figures the alert rules use, read at scrape time from
the real PostgreSQL and Redis."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from agents import mesh
from agents.events import parse_event
from agents.models import Agent
from knowledge.models import Edge, Pattern, Problem, Solution
from remediation import audit, audit_status
from tests.deploy.metrics_text import value

pytestmark = pytest.mark.django_db(transaction=True)


def scrape(client) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200
    return response.content.decode()


def test_knowledge_nodes_count_each_kind(client):
    problem = Problem.objects.create(fingerprint="fp-a", title="a", signal="a", category="import")
    Problem.objects.create(fingerprint="fp-b", title="b", signal="b", category="import")
    solution = Solution.objects.create(problem=problem, title="retry", action="notify",
                                       successes=3, failures=1)  # fmt: skip
    Pattern.objects.create(name="p", kind="recurring", matches_confirmed=4, matches_refuted=1)
    Edge.objects.create(source_kind="problem", source_id=problem.pk, relation="solved_by",
                        target_kind="solution", target_id=solution.pk)  # fmt: skip

    page = scrape(client)

    assert value(page, "ai_ops_knowledge_nodes", kind="problems") == 2
    assert value(page, "ai_ops_knowledge_nodes", kind="solutions") == 1
    assert value(page, "ai_ops_knowledge_nodes", kind="patterns") == 1
    assert value(page, "ai_ops_knowledge_nodes", kind="edges") == 1
    assert value(page, "ai_ops_solution_outcomes", outcome="succeeded") == 3
    assert value(page, "ai_ops_solution_outcomes", outcome="failed") == 1
    assert value(page, "ai_ops_pattern_matches", outcome="confirmed") == 4


def test_error_log_records_count_by_component(client):
    before = value(scrape(client), "ai_ops_errors_total", component="agents.runtime") or 0

    logging.getLogger("agents.runtime").error("handler failed")
    logging.getLogger("agents.runtime").warning("only a warning")

    after = value(scrape(client), "ai_ops_errors_total", component="agents.runtime")
    assert after == before + 1


def test_heartbeat_age_covers_enabled_agents_that_have_beaten(client, settings):
    settings.AGENT_DOWN_AFTER_SECONDS = 30
    now = timezone.now()
    Agent.objects.create(
        name="quiet", kind="t", version="1", last_heartbeat=now - timedelta(seconds=95)
    )
    Agent.objects.create(name="off", kind="t", version="1", enabled=False, last_heartbeat=now)
    Agent.objects.create(name="never", kind="t", version="1")

    page = scrape(client)

    assert value(page, "ai_ops_agent_heartbeat_age_seconds", agent="quiet") == pytest.approx(
        95, abs=5
    )
    assert value(page, "ai_ops_agent_heartbeat_age_seconds", agent="off") is None
    assert value(page, "ai_ops_agent_heartbeat_age_seconds", agent="never") is None
    assert value(page, "ai_ops_agent_down_after_seconds") == 30


def test_consumer_lag_is_the_gap_to_the_newest_entry(client, clean_redis):
    stream = "events:api.request"
    clean_redis.xgroup_create(stream, "slow-agent", id="0", mkstream=True)
    clean_redis.xadd(stream, {"e": "{}"}, id="1000000-0")
    clean_redis.xreadgroup("slow-agent", "c1", {stream: ">"}, count=1)
    clean_redis.xadd(stream, {"e": "{}"}, id="1004500-0")
    clean_redis.sadd(mesh.STREAM_INDEX_KEY, stream)

    page = scrape(client)

    assert value(page, "ai_ops_consumer_lag_seconds", stream=stream, group="slow-agent") == 4.5


def test_a_group_that_never_read_lags_by_its_backlog_not_by_the_epoch(client, clean_redis):
    stream = "events:api.request"
    clean_redis.xgroup_create(stream, "new-agent", id="0", mkstream=True)
    clean_redis.xadd(stream, {"e": "{}"}, id="1000000-0")
    clean_redis.xadd(stream, {"e": "{}"}, id="1004500-0")
    clean_redis.sadd(mesh.STREAM_INDEX_KEY, stream)

    page = scrape(client)

    assert value(page, "ai_ops_consumer_lag_seconds", stream=stream, group="new-agent") == 4.5


def test_consumer_lag_is_zero_once_the_group_caught_up(client, clean_redis):
    mesh.publish(parse_event({"type": "api.request", "source": "t", "payload": {
        "method": "GET", "endpoint": "/x", "status": 200, "latency_ms": 1.0}}))  # fmt: skip
    clean_redis.xgroup_create("events:api.request", "fast", id="0")
    clean_redis.xreadgroup("fast", "c1", {"events:api.request": ">"})

    page = scrape(client)

    assert (
        value(page, "ai_ops_consumer_lag_seconds", stream="events:api.request", group="fast") == 0
    )


def test_audit_chain_status_is_exported_once_verified(client):
    assert value(scrape(client), "ai_ops_audit_chain_valid") is None  # never checked: absent
    audit.record("test.entry", n=1)
    second = audit.record("test.entry", n=2)
    audit_status.check_and_store()
    assert value(scrape(client), "ai_ops_audit_chain_valid") == 1

    from tests.support import owner_cursor

    with owner_cursor() as cursor:  # only the table's owner (or a superuser) could do this
        cursor.execute("ALTER TABLE remediation_auditentry DISABLE TRIGGER USER")
        cursor.execute(
            "UPDATE remediation_auditentry SET actor = 'mallory' WHERE id = %s", [second.pk]
        )
        cursor.execute("ALTER TABLE remediation_auditentry ENABLE TRIGGER USER")
    status = audit_status.check_and_store()

    assert status["broken_entry"] == second.pk
    page = scrape(client)
    assert value(page, "ai_ops_audit_chain_valid") == 0
    assert value(page, "ai_ops_audit_chain_verified_timestamp_seconds") == pytest.approx(
        status["at"]
    )
