"""What each live panel shows: one context builder per panel, used by the HTTP views and by
the WebSocket push alike (``dashboard/live.py``), so both render the same partial."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import connection, models
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from agents import mesh
from agents.models import Agent, AgentStatus, Service
from core.redis import get_redis
from dashboard import charts
from knowledge.models import Incident, Pattern, Problem, ProblemStatus, Solution

OVERVIEW_TEMPLATE = "dashboard/overview.html"
# Incidents first: the overview answers "what is broken now". The problem catalogue lives in
# the knowledge pages and the admin (a problem's page is still linked from its incident).
PANELS = ("incidents", "approvals", "runs", "agents", "rates", "knowledge", "services")
# Panels whose markup depends on who looks (buttons for approvers only).
ROLE_PANELS = frozenset({"approvals"})

AGENT_RATES_KEY = "aiops:dashboard:agent-rates"
STREAM_SAMPLES_KEY = "aiops:dashboard:stream-samples"
STREAM_SAMPLES_KEPT = 120
STREAM_SAMPLE_MIN_SECONDS = 1.0
RATE_CHART_TYPES = 5

STATUS_CLASS = {
    AgentStatus.RUNNING: "ok",
    AgentStatus.STARTING: "warn",
    AgentStatus.DEGRADED: "warn",
    AgentStatus.DOWN: "failing",
    AgentStatus.DISABLED: "muted",
}


@dataclass
class AgentRow:
    agent: Agent
    status_class: str
    heartbeat_age: float | None
    rate: float


# --- Agents ---------------------------------------------------------------------------------


def record_agent_rates(beats: list[tuple[str, str, int]], *, now: float | None = None) -> None:
    """Remember each worker's throughput from its heartbeats: (agent, consumer, processed
    since its last beat). One round trip however many beats."""
    if not beats:
        return
    interval = max(settings.AGENT_HEARTBEAT_SECONDS, 1)
    at = now or time.time()
    mapping = {
        f"{agent}|{consumer}": json.dumps({"rate": processed / interval, "t": at})
        for agent, consumer, processed in beats
    }
    get_redis().hset(AGENT_RATES_KEY, mapping=mapping)


def agent_rates(*, now: float | None = None) -> dict[str, float]:
    """Events/s per agent: the sum over its workers that beat recently."""
    now = now or time.time()
    fresh_after = now - 3 * settings.AGENT_HEARTBEAT_SECONDS
    rates: dict[str, float] = {}
    for key, raw in get_redis().hgetall(AGENT_RATES_KEY).items():
        agent = key.decode().split("|", 1)[0]
        sample = json.loads(raw)
        if sample["t"] >= fresh_after:
            rates[agent] = rates.get(agent, 0.0) + sample["rate"]
    return rates


def agents_context() -> dict[str, Any]:
    now = timezone.now()
    rates = agent_rates()
    rows = [
        AgentRow(a, STATUS_CLASS.get(a.status, "muted"), a.heartbeat_age(now), rates.get(a.name, 0))
        for a in Agent.objects.all()
    ]
    return {"agent_rows": rows}


# --- Event rates from stream lengths ----------------------------------------------------------


def sample_streams(*, force: bool = False) -> None:
    """Record every stream's length now (at most once a second); rates are the differences."""
    client = get_redis()
    latest = client.lindex(STREAM_SAMPLES_KEY, 0)
    now = time.time()
    if not force and latest and now - json.loads(latest)["t"] < STREAM_SAMPLE_MIN_SECONDS:
        return
    streams = mesh.known_streams(client)
    pipe = client.pipeline(transaction=False)
    for stream in streams:
        pipe.xlen(stream)
    lengths = dict(zip(streams, pipe.execute(), strict=True))
    pipe.lpush(STREAM_SAMPLES_KEY, json.dumps({"t": now, "lens": lengths}))
    pipe.ltrim(STREAM_SAMPLES_KEY, 0, STREAM_SAMPLES_KEPT - 1)
    pipe.execute()


def stream_rates() -> dict[str, list[tuple[datetime, float]]]:
    """Events/s per type between consecutive samples, oldest first."""
    raw = get_redis().lrange(STREAM_SAMPLES_KEY, 0, STREAM_SAMPLES_KEPT - 1)
    samples = [json.loads(item) for item in reversed(raw)]
    series: dict[str, list[tuple[datetime, float]]] = {}
    for before, after in zip(samples, samples[1:], strict=False):
        dt = max(after["t"] - before["t"], 1e-3)
        moment = datetime.fromtimestamp(after["t"], tz=UTC)
        for stream, length in after["lens"].items():
            # Trimming shortens a stream; a negative difference is not a negative rate.
            delta = max(length - before["lens"].get(stream, length), 0)
            series.setdefault(stream.removeprefix("events:"), []).append((moment, delta / dt))
    return series


def rates_context() -> dict[str, Any]:
    sample_streams()
    series = stream_rates()
    busiest = sorted(series, key=lambda t: series[t][-1][1], reverse=True)[:RATE_CHART_TYPES]
    chart = charts.time_series({t: series[t] for t in busiest}, title="events/s by type")
    current = sorted(((t, points[-1][1]) for t, points in series.items()), key=lambda r: -r[1])
    return {"rate_chart": chart, "rate_rows": current, "rate_total": sum(r for _, r in current)}


# --- Problems, knowledge, services --------------------------------------------------------------


def problems_context(limit: int = 15) -> dict[str, Any]:
    problems = Problem.objects.canonical().filter(status=ProblemStatus.OPEN).order_by("-last_seen")
    return {"open_problems": list(problems.only(*PROBLEM_LIST_FIELDS)[:limit])}


PROBLEM_LIST_FIELDS = ("id", "title", "severity", "occurrence_count", "last_seen", "category")


def knowledge_context() -> dict[str, Any]:
    return {
        "knowledge_counts": {
            "problems": Problem.objects.canonical().count(),
            "solutions": Solution.objects.count(),
            "patterns": Pattern.objects.count(),
        }
    }


def service_health(total: int, healthy: int, incidents: list[str]) -> tuple[str, str]:
    """(css class, words): instances that are up, and the worst open incident on it.

    A service with an open critical incident is failing even when every instance beats."""
    if "critical" in incidents or not healthy:
        state = "failing"
    elif incidents or healthy < total:
        state = "warn"
    else:
        state = "ok"
    words = f"{healthy} / {total} up" if total else "no instances"
    if incidents:
        words += f" · {len(incidents)} open incident{'s' if len(incidents) > 1 else ''}"
    return state, words


def services_context() -> dict[str, Any]:
    services = list(Service.objects.prefetch_related("instances"))
    now = timezone.now()
    open_incidents: dict[str, list[str]] = {}
    for name, severity in Incident.objects.open().values_list("service", "severity"):
        open_incidents.setdefault(name, []).append(severity)
    rows = []
    for service in services:
        statuses = [instance.get_status(now) for instance in service.instances.all()]
        healthy = sum(1 for s in statuses if s in ("up", "degraded"))
        incidents = open_incidents.get(service.name, [])
        state, words = service_health(len(statuses), healthy, incidents)
        rows.append({"service": service, "total": len(statuses), "healthy": healthy,
                     "state": state, "words": words, "incidents": len(incidents)})  # fmt: skip
    return {"service_rows": rows}


# --- Remediation (read only, when its models and tables exist) --------------------------------

_REMEDIATION_READY: list[bool] = []  # cached once true; remediation may migrate later


def run_model() -> type[models.Model] | None:
    """``RemediationRun`` once remediation defines it and its table exists, else None."""
    try:
        model = apps.get_model("remediation", "RemediationRun")
    except LookupError:
        return None
    if not _REMEDIATION_READY:
        if model._meta.db_table not in connection.introspection.table_names():
            return None
        _REMEDIATION_READY.append(True)
    return model


def decide_urls(run_pk: int) -> dict[str, str] | None:
    """Where Approve / Reject post, when remediation serves those endpoints."""
    try:
        return {
            "approve": reverse("remediation:approve", args=[run_pk]),
            "reject": reverse("remediation:reject", args=[run_pk]),
        }
    except NoReverseMatch:
        return None


def approvals_context() -> dict[str, Any]:
    from dashboard.incidents import rollback_plan

    model = run_model()
    runs = []
    if model is not None:
        pending = (
            model._default_manager.filter(status="awaiting_approval")
            .select_related("diagnosis__incident")
            .order_by("created_at")
        )
        runs = [(run, decide_urls(run.pk), rollback_plan(run)) for run in pending[:10]]
    return {"approvals_available": model is not None, "approvals": runs}


def runs_context() -> dict[str, Any]:
    """The latest runs, each non-success with its reason (cooldown, kill switch, ...)."""
    from dashboard.incidents import run_why

    model = run_model()
    runs = []
    if model is not None:
        latest = model._default_manager.select_related("diagnosis__incident").prefetch_related(
            "transitions"
        )
        runs = [(run, run_why(run)) for run in latest.order_by("-created_at")[:10]]
    return {"runs_available": model is not None, "runs": runs}


def incidents_context() -> dict[str, Any]:
    from dashboard.incidents import incidents_context as build

    return build()


BUILDERS: dict[str, Callable[[], dict[str, Any]]] = {
    "incidents": incidents_context,
    "agents": agents_context,
    "rates": rates_context,
    "approvals": approvals_context,
    "runs": runs_context,
    "knowledge": knowledge_context,
    "services": services_context,
}


def panel_context(names: tuple[str, ...] | list[str] = PANELS) -> dict[str, Any]:
    context: dict[str, Any] = {}
    for name in names:
        context.update(BUILDERS[name]())
    return context
