"""The processes' resources over time: memory and database connections that leak, the
gauges a real deployment exports about them, and the worker's memory watchdog."""

from __future__ import annotations

from typing import TYPE_CHECKING

from simulator.deployment import (
    DB_POOL_SIZE,
    MEMORY_LIMIT_MB,
    MEMORY_WARN_FRACTION,
    SERVICES,
    Outcome,
    instance_of,
)

if TYPE_CHECKING:  # the world composes these models; they read its state
    from simulator.world import World


class Resources:
    """Leaks grow with the time passed between calls; the last call's time survives a reset
    of the world (it is the clock's, not the deployment's)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self._last_advance: float | None = None

    def advance(self, now: float) -> None:
        w = self.world
        elapsed = 0.0 if self._last_advance is None else max(0.0, now - self._last_advance)
        self._last_advance = now
        for instance, rate in w.memory_leak_mb_s.items():
            w.memory_mb[instance] = min(MEMORY_LIMIT_MB, w.memory_mb[instance] + rate * elapsed)
        if w.pool_leak_per_s:
            w.pool_in_use = min(DB_POOL_SIZE, w.pool_in_use + w.pool_leak_per_s * elapsed)

    def gauges(self) -> list[tuple[str, str, float, dict[str, str]]]:
        """(service, metric name, value, labels) samples a real deployment would export."""
        w = self.world
        samples = [
            (
                service,
                "process.memory_rss_mb",
                round(w.memory_mb[instance_of(service)], 1),
                {"instance": instance_of(service)},
            )
            for service in SERVICES
        ]
        samples.append(("bookmarks", "db.pool_in_use", round(w.pool_in_use, 1), {}))
        samples.append(("search", "search.replicas", float(w.replicas["search"]), {}))
        return samples

    def memory_warning(self, now: float) -> Outcome | None:
        """The worker's own watchdog line once its resident memory passes the soft limit."""
        w = self.world
        rss = w.memory_mb[instance_of("import-worker")]
        if rss < MEMORY_LIMIT_MB * MEMORY_WARN_FRACTION:
            return None
        return w.signal_log.error(
            "import-worker", "high_memory_usage", now, status=0, latency_ms=0.0,
            text=f"Worker rss {rss:.0f} MiB exceeds {MEMORY_WARN_FRACTION:.0%} of limit "
            f"{MEMORY_LIMIT_MB} MiB after {w.imports_run} tasks",
        )  # fmt: skip
