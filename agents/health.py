"""The checks behind ``/health``: each one names the part it checks and says what failed."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import redis
from django.db import DatabaseError, connection

from agents.heartbeats import read_heartbeats
from core.redis import get_redis


@dataclass
class HealthReport:
    healthy: bool = True
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)
    failing: list[str] = field(default_factory=list)

    def add(self, name: str, ok: bool, **details: Any) -> None:
        self.checks[name] = {"ok": ok, **details}
        if not ok:
            self.healthy = False
            self.failing.append(name)


def _timed(func: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = func()
    return result, round((time.perf_counter() - started) * 1000, 2)


def check_database(report: HealthReport) -> None:
    def probe() -> bool:
        with connection.cursor() as cursor:
            cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            return cursor.fetchone() is not None

    try:
        has_vector, latency_ms = _timed(probe)
    except DatabaseError as exc:
        report.add("database", False, error=str(exc).strip()[:300])
        return
    if has_vector:
        report.add("database", True, latency_ms=latency_ms)
    else:
        report.add("database", False, error="the pgvector extension is not installed")


def check_redis(report: HealthReport) -> None:
    try:
        _, latency_ms = _timed(get_redis().ping)
    except redis.RedisError as exc:
        report.add("redis", False, error=str(exc)[:300])
        return
    report.add("redis", True, latency_ms=latency_ms)


def check_heartbeats(report: HealthReport) -> None:
    if not report.checks.get("redis", {}).get("ok"):
        return
    for beat in read_heartbeats():
        details = {"last_beat": beat.last_beat, "age_seconds": beat.age_seconds}
        if beat.stale:
            details["error"] = f"no heartbeat for {beat.age_seconds:.0f}s"
        report.add(f"heartbeat:{beat.component}", not beat.stale, **details)


def build_health_report() -> dict[str, Any]:
    report = HealthReport()
    check_database(report)
    check_redis(report)
    check_heartbeats(report)
    payload = asdict(report)
    payload["status"] = "ok" if report.healthy else "failing"
    return payload
