"""Metrics computed when Prometheus scrapes: state that lives in PostgreSQL and Redis, not in
any one process's memory.

A custom collector (not gauges set by a timer) so every value is as fresh as the scrape and
no process has to own it; it sits in its own registry because in multiprocess mode
``/metrics`` exports only what the processes wrote to their files (see ``aiops_site/views.py``).
All database figures come from one statement of cheap ``COUNT``/``SUM`` subqueries; Redis
figures from one pipeline per stream list.

What the alert rules (``deploy/prometheus/rules.yml``) and dashboards rely on:

- ``ai_ops_knowledge_nodes{kind}``: the knowledge graph's size (problems, solutions, patterns,
  edges, diagnoses, occurrences).
- ``ai_ops_solution_outcomes{outcome}`` and ``ai_ops_pattern_matches{outcome}``: the graph's
  learned success counts, for success rate and pattern match accuracy.
- ``ai_ops_remediation_runs{status}``: runs by their current state.
- ``ai_ops_agent_heartbeat_age_seconds{agent}`` for enabled agents that have beaten once, and
  ``ai_ops_agent_down_after_seconds``, the watchdog's threshold (``AGENT_DOWN_AFTER_SECONDS``),
  so the ``AgentDown`` rule and the watchdog agree on when an agent is down.
- ``ai_ops_consumer_lag_seconds{stream,group}``: how far behind the newest entry the group's
  last delivered entry is (stream ids are millisecond timestamps); works on Redis 6.2, which
  has no per-group ``lag`` field.
- ``ai_ops_audit_chain_valid`` and ``ai_ops_audit_chain_verified_timestamp_seconds``: the last
  verification of the audit chain (``remediation/audit_status.py``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import redis
from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Count
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from agents import mesh
from agents.models import Agent
from core.redis import get_redis
from knowledge.models import Diagnosis, Edge, Occurrence, Pattern, Problem, Solution
from remediation.audit_status import last_status
from remediation.models import RemediationRun

logger = logging.getLogger(__name__)

NODE_KINDS = {
    "problems": Problem,
    "solutions": Solution,
    "patterns": Pattern,
    "edges": Edge,
    "diagnoses": Diagnosis,
    "occurrences": Occurrence,
}


def _graph_sql() -> str:
    """One statement, one round trip: a scalar subquery per figure. Every name in it comes
    from model metadata, never from input, hence the S608 waivers."""
    solution, pattern = Solution._meta.db_table, Pattern._meta.db_table
    parts = [f"(SELECT COUNT(*) FROM {m._meta.db_table})" for m in NODE_KINDS.values()]  # noqa: S608
    parts += [
        f"(SELECT COALESCE(SUM({column}), 0) FROM {table})"  # noqa: S608
        for table, column in (
            (solution, "successes"),
            (solution, "failures"),
            (pattern, "matches_confirmed"),
            (pattern, "matches_refuted"),
        )
    ]
    return "SELECT " + ", ".join(parts)


def _graph_metrics() -> Iterator[Metric]:
    with connection.cursor() as cursor:
        cursor.execute(_graph_sql())
        row = cursor.fetchone()
    nodes = GaugeMetricFamily(
        "ai_ops_knowledge_nodes", "Rows in the knowledge graph, by kind", labels=["kind"]
    )
    for kind, value in zip(NODE_KINDS, row, strict=False):
        nodes.add_metric([kind], value)
    yield nodes
    successes, failures, confirmed, refuted = row[len(NODE_KINDS) :]
    outcomes = GaugeMetricFamily(
        "ai_ops_solution_outcomes",
        "Verified outcomes recorded on solutions (all time), by outcome",
        labels=["outcome"],
    )
    outcomes.add_metric(["succeeded"], successes)
    outcomes.add_metric(["failed"], failures)
    yield outcomes
    matches = GaugeMetricFamily(
        "ai_ops_pattern_matches",
        "Pattern matches later judged (all time), by outcome",
        labels=["outcome"],
    )
    matches.add_metric(["confirmed"], confirmed)
    matches.add_metric(["refuted"], refuted)
    yield matches


def _run_metrics() -> Iterator[Metric]:
    runs = GaugeMetricFamily(
        "ai_ops_remediation_runs", "Remediation runs by current status", labels=["status"]
    )
    by_status = RemediationRun.objects.order_by().values_list("status").annotate(n=Count("id"))
    for status, count in by_status:
        runs.add_metric([status], count)
    yield runs


def _agent_metrics(now: float) -> Iterator[Metric]:
    ages = GaugeMetricFamily(
        "ai_ops_agent_heartbeat_age_seconds",
        "Seconds since an enabled agent's last heartbeat (any worker)",
        labels=["agent"],
    )
    beats = Agent.objects.filter(enabled=True, last_heartbeat__isnull=False)
    for name, last in beats.values_list("name", "last_heartbeat"):
        ages.add_metric([name], max(0.0, now - last.timestamp()))
    yield ages
    yield GaugeMetricFamily(
        "ai_ops_agent_down_after_seconds",
        "Heartbeat age after which an agent counts as down (AGENT_DOWN_AFTER_SECONDS)",
        value=settings.AGENT_DOWN_AFTER_SECONDS,
    )


def consumer_lag_seconds(client: redis.Redis) -> dict[tuple[str, str], float]:
    """(stream, group) -> seconds between the newest entry and the group's last delivered."""
    streams = mesh.known_streams(client)
    pipe = client.pipeline(transaction=False)
    for stream in streams:
        pipe.xinfo_stream(stream)
        pipe.xinfo_groups(stream)
    replies = pipe.execute(raise_on_error=False)
    lags: dict[tuple[str, str], float] = {}
    for stream, info, groups in zip(streams, replies[::2], replies[1::2], strict=True):
        if isinstance(info, Exception) or isinstance(groups, Exception):
            continue  # trimmed to nothing or never read by a group
        newest = _id_ms(info["last-generated-id"])
        first = info.get("first-entry")
        for group in groups:
            delivered = _id_ms(group["last-delivered-id"])
            if delivered == 0:  # never read: the backlog reaches back to the first entry
                delivered = _id_ms(first[0]) if first else newest  # (not to 1970)
            name = group["name"]
            name = name.decode() if isinstance(name, bytes) else name
            lags[(stream, name)] = max(0, newest - delivered) / 1000
    return lags


def _id_ms(entry_id: bytes | str) -> int:
    raw = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(raw.split("-", 1)[0])


def _redis_metrics() -> Iterator[Metric]:
    client = get_redis()
    lag = GaugeMetricFamily(
        "ai_ops_consumer_lag_seconds",
        "Age gap between a stream's newest entry and its group's last delivered entry",
        labels=["stream", "group"],
    )
    for (stream, group), seconds in consumer_lag_seconds(client).items():
        lag.add_metric([stream, group], seconds)
    yield lag
    chain = last_status()
    if chain is not None:
        yield GaugeMetricFamily(
            "ai_ops_audit_chain_valid",
            "1 when the audit hash chain verified intact at its last check, 0 when broken",
            value=int(chain["valid"]),
        )
        yield GaugeMetricFamily(
            "ai_ops_audit_chain_verified_timestamp_seconds",
            "Unix time of the audit chain's last verification",
            value=chain["at"],
        )


class ScrapeTimeCollector(Collector):
    """Yields what it can: a database or Redis outage drops those figures (``/health`` and
    the ``up`` series report the outage), and the rest of the page is still served."""

    def collect(self) -> Iterator[Metric]:
        now = time.time()
        for part in (_graph_metrics, _run_metrics, lambda: _agent_metrics(now)):
            try:
                yield from list(part())
            except DatabaseError:
                logger.warning("scrape-time metrics: database unavailable", exc_info=True)
        try:
            yield from list(_redis_metrics())
        except redis.RedisError:
            logger.warning("scrape-time metrics: Redis unavailable", exc_info=True)


SCRAPE_REGISTRY = CollectorRegistry(auto_describe=False)
SCRAPE_REGISTRY.register(ScrapeTimeCollector())
