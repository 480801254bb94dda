"""How the web app (``bookmarks``) and the search index answer a request, given the world's
state: the session store, the database pool, and search's capacity against its load."""

from __future__ import annotations

from typing import TYPE_CHECKING

from simulator.deployment import (
    DB_POOL_SIZE,
    SEARCH_CAPACITY_PER_REPLICA,
    STATEMENT_TIMEOUT_MS,
    Outcome,
    lognormal,
)

if TYPE_CHECKING:  # the world composes these models; they read its state
    from simulator.world import World

#: What the ORM's slow-query log prints (a log line, never a query that runs).
SLOW_QUERY = (
    "Slow query ({ms:.0f} ms): SELECT ... FROM bookmarks_bookmark WHERE title ILIKE '%{term}%'"
)
#: Median latency (ms) by endpoint of a healthy web app.
MEDIAN_MS = {"list": 35.0, "detail": 18.0, "create": 45.0, "login": 60.0}


def db_wait_factor(pool_in_use: float) -> float:
    """Requests wait for a connection as the pool fills (the latency creep)."""
    return 1.0 + 4.0 * max(0.0, pool_in_use - 8) / DB_POOL_SIZE


class SearchCapacity:
    """Search's replicas against the searches aimed at them, and a lost index."""

    def __init__(self, world: World) -> None:
        self.world = world

    def utilisation(self) -> float:
        w = self.world
        capacity = SEARCH_CAPACITY_PER_REPLICA * w.replicas["search"]
        return (w.search_base_rate * w.traffic_multiplier + w.extra_search_rps) / capacity

    def search(self, now: float) -> Outcome:
        w = self.world
        if not w.search_index_valid:
            latency = w.random.uniform(2200, 4600)
            term = w.random.choice(("python", "kubernetes", "recipes", "rust", "news"))
            return w.signal_log.error(
                "search", "search_latency_high", now, status=200, latency_ms=latency,
                text=SLOW_QUERY.format(ms=latency, term=term),
            )  # fmt: skip
        utilisation = self.utilisation()
        if utilisation >= 1.0 and w.random.random() < 1.0 - 1.0 / utilisation:
            return w.signal_log.error(
                "search", "search_timeout", now, status=504, latency_ms=STATEMENT_TIMEOUT_MS,
                text="QueryCanceled: canceling statement due to statement timeout "
                f"(search_bookmarks, {STATEMENT_TIMEOUT_MS:.0f} ms)",
            )  # fmt: skip
        queueing = 1.0 / max(0.05, 1.0 - min(utilisation, 0.95))
        latency_ms = lognormal(w.random, 40) * queueing * db_wait_factor(w.pool_in_use)
        return Outcome(latency_ms=latency_ms)


class WebRequests:
    """The web app's answer to one request: sessions, a database connection, its latency."""

    def __init__(self, world: World, search: SearchCapacity) -> None:
        self.world = world
        self.search = search

    def handle(self, endpoint: str, *, authenticated: bool, now: float) -> Outcome:
        outcome = self._handle(endpoint, authenticated=authenticated, now=now)
        outcome.latency_ms *= self.world.novel.slowdown()
        return outcome

    def _handle(self, endpoint: str, *, authenticated: bool, now: float) -> Outcome:
        w = self.world
        failed = w.novel.web_failure(endpoint, authenticated=authenticated, now=now)
        if failed is not None:
            return failed
        if authenticated and not w.session_store_up and not w.flags["db_sessions_fallback"]:
            return w.signal_log.error(
                "bookmarks", "session_store_down", now, status=500,
                latency_ms=lognormal(w.random, 25),
                text="redis.exceptions.ConnectionError: Error 111 connecting to "
                "redis:6379. Connection refused.",
            )  # fmt: skip
        if endpoint != "login" and w.pool_in_use >= DB_POOL_SIZE:
            return w.signal_log.error(
                "bookmarks", "db_pool_exhausted", now, status=500, latency_ms=3000.0,
                text="psycopg_pool.PoolTimeout: couldn't get a connection after 3.00 sec",
            )  # fmt: skip
        if endpoint == "search":
            return self.search.search(now)
        median = MEDIAN_MS.get(endpoint, 30.0)
        latency_ms = lognormal(w.random, median) * db_wait_factor(w.pool_in_use)
        return Outcome(status=201 if endpoint == "create" else 200, latency_ms=latency_ms)
