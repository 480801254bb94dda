"""Fault scenarios: what each one breaks in the world, its ground truth, and the human fix.

A scenario's ground truth is what an operator would write in the post-mortem: the root
cause (the knowledge graph's ``signal`` for it), the service where it shows, and the correct
remediation (an action of ``remediation.actions``). ``inject`` only changes the world's
state; the fault ends when the control API is asked for the right thing (``world.py``), or
when ``human_fix`` does by hand what an on-call engineer would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from simulator.deployment import DB_POOL_SIZE, MEMORY_LIMIT_MB, instance_of
from simulator.world import World


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    root_cause: str  # the signal, or "" for a healthy period
    service: str
    remediation: str  # the correct action, or "" for a healthy period
    inject: Callable[[World], None]
    human_fix: Callable[[World], None]
    description: str = ""

    @property
    def healthy(self) -> bool:
        return not self.root_cause


def _large_chrome_imports(world: World) -> None:
    # A configuration change raised the batch size; large Chrome exports now time out.
    world.batch_size = 8000
    world.large_chrome_imports = True


def _fix_batch_size(world: World) -> None:
    world.batch_size = 500
    world.large_chrome_imports = False


def _memory_leak(world: World) -> None:
    worker = instance_of("import-worker")
    world.memory_mb[worker] = MEMORY_LIMIT_MB * 0.79
    world.memory_leak_mb_s[worker] = 12.0


def _duplicates(world: World) -> None:
    world.flags["dedupe_on_import"] = False  # a deploy dropped the duplicate check
    world.duplicate_imports = True


def _index_lost(world: World) -> None:
    world.search_index_valid = False


def _redis_outage(world: World) -> None:
    world.session_store_up = False


def _fix_redis(world: World) -> None:
    world.session_store_up = True


def _traffic_surge(world: World) -> None:
    # Absolute, not relative, so the surge saturates search at any hour of the day.
    world.traffic_multiplier = 3.0
    world.extra_search_rps = 40.0


def _latency_creep(world: World) -> None:
    # A code path forgets to return its connections: the pool fills a little every second.
    world.pool_in_use = DB_POOL_SIZE * 0.4
    world.pool_leak_per_s = 0.6


def _favicon_upstream(world: World) -> None:
    world.favicon_upstream_failing = True


def _malformed_imports(world: World) -> None:
    world.malformed_html_imports = True


def _nothing(world: World) -> None:
    return None


def _restart_worker(world: World) -> None:
    world.restart([instance_of("import-worker")])


def _restart_web(world: World) -> None:
    world.restart([instance_of("bookmarks")])


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "large_chrome_import", "Large Chrome imports time out",
            "import_timeout", "import-worker", "retry_with_smaller_batch",
            _large_chrome_imports, _fix_batch_size,
            "The import batch size went from 1000 to 8000; Chrome exports of 20k+ bookmarks "
            "exceed the worker's 30 s soft time limit per batch.",
        ),
        Scenario(
            "memory_leak", "Import worker memory leak",
            "high_memory_usage", "import-worker", "restart_service",
            _memory_leak, _restart_worker,
            "The import worker's resident memory grows 12 MiB/s until imports fail with "
            "MemoryError; a restart frees it.",
        ),
        Scenario(
            "duplicate_bookmarks", "Duplicate bookmarks after import",
            "duplicate_bookmarks", "import-worker", "webhook",
            _duplicates, lambda world: world.dedupe(),
            "The duplicate check on import is off; imports insert the same URL twice.",
        ),
        Scenario(
            "search_index_lost", "Slow search after the index is lost",
            "search_latency_high", "search", "clear_cache",
            _index_lost, lambda world: world.clear_cache("search", "*"),
            "The trigram index is invalid; every search scans the table (2-5 s).",
        ),
        Scenario(
            "redis_outage", "Session store (Redis) outage",
            "session_store_down", "bookmarks", "toggle_feature_flag",
            _redis_outage, _fix_redis,
            "Redis refuses connections; every signed-in request fails until sessions fall "
            "back to the database.",
        ),
        Scenario(
            "traffic_surge", "Traffic surge saturates search",
            "search_timeout", "search", "scale_out",
            _traffic_surge, lambda world: world.scale("search", 2),
            "Three times the usual traffic and 40 searches/s more; two search replicas cannot "
            "keep up and queries hit the statement timeout.",
        ),
        Scenario(
            "latency_creep", "Gradual latency creep from a connection leak",
            "db_pool_exhausted", "bookmarks", "restart_service",
            _latency_creep, _restart_web,
            "Connections leak from the pool; latency creeps up, then requests time out "
            "waiting for a connection.",
        ),
        Scenario(
            "favicon_upstream_5xx", "Upstream 5xx from the favicon fetcher",
            "favicon_rate_limited", "favicon-fetcher", "toggle_feature_flag",
            _favicon_upstream, lambda world: world.set_flag("favicon_fetch", False),
            "Icon hosts answer 429/502/503; the fetcher hammers them until paused.",
        ),
        Scenario(
            "malformed_import", "Malformed bookmark export files",
            "import_parse_error", "import-worker", "toggle_feature_flag",
            _malformed_imports, lambda world: world.set_flag("lenient_html_import", True),
            "A browser extension writes Netscape HTML exports with unbalanced tags.",
        ),
        Scenario(
            "healthy", "Healthy traffic", "", "bookmarks", "", _nothing, _nothing,
            "No fault: anything raised now is a false alarm.",
        ),
    )
}  # fmt: skip

#: What ``scorecard --quick`` runs: a healthy period first (false alarms want an undisturbed
#: window), two automatic fixes, and a risky one that waits for approval.
QUICK = ("healthy", "large_chrome_import", "search_index_lost", "memory_leak")
#: The cycle ``make run`` injects on its own so a fresh install shows the loop working: the
#: faults fixed automatically first, then those whose fix waits for one-click approval.
DEMO_CYCLE = (
    "large_chrome_import",
    "search_index_lost",
    "malformed_import",
    "favicon_upstream_5xx",
    "traffic_surge",
    "memory_leak",
    "duplicate_bookmarks",
    "latency_creep",
    "redis_outage",
)


def get(name: str) -> Scenario:
    """A known scenario, or one of the novel set (``novel_scenarios.py``, kept apart so the
    demo cycle and the known scorecard never play it)."""
    from simulator.novel_scenarios import NOVEL  # it builds on Scenario: imported late

    try:
        return SCENARIOS.get(name) or NOVEL[name]
    except KeyError:
        known = ", ".join(sorted([*SCENARIOS, *NOVEL]))
        raise KeyError(f"unknown scenario {name!r}; known: {known}") from None
