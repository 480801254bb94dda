"""The simulated world on its own: no sockets, no sleeping, time passed in as ``now``.

For every scenario: injecting it makes exactly its root cause present and makes the paths
it breaks report errors of its signal from its service; the operation the seeded rule's
action sends through the control API ends it (the symptom too, not only the flag), and so
does the on-call engineer's fix by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from simulator import scenarios
from simulator.control import ControlAPI
from simulator.deployment import (
    BATCH_TIME_LIMIT_S,
    DB_POOL_SIZE,
    MEMORY_BASELINE_MB,
    SERVICES,
    SIGNAL_WINDOW_S,
    ImportJob,
    Outcome,
    instance_of,
)
from simulator.world import World
from tests.simulator.conftest import Retries

NOW = 1000.0
FAULTY = [name for name, s in scenarios.SCENARIOS.items() if not s.healthy]

_jobs = iter(range(1, 1_000_000))


def _job(source: str, count: int, *, malformed: bool = False) -> ImportJob:
    return ImportJob(f"imp-{next(_jobs)}", "u1", source, count, malformed=malformed)


def _imports(world: World, now: float) -> list[Outcome]:
    # Exports are malformed only while the scenario makes them so (as the runner does).
    malformed = world.malformed_html_imports
    return [
        world.run_import(_job("chrome", 40_000), now),
        world.run_import(_job("firefox", 1200), now),
        world.run_import(_job("html", 300, malformed=malformed), now),
    ]


def _searches(world: World, now: float) -> list[Outcome]:
    return [world.handle_request("search", authenticated=True, now=now) for _ in range(200)]


def _pages(world: World, now: float) -> list[Outcome]:
    return [
        world.handle_request(endpoint, authenticated=True, now=now)
        for endpoint in ("list", "detail", "create")
    ]


def _leaks(world: World, now: float) -> list[Outcome]:
    # Leaks grow with time: let 30 s pass, then look at what the worker and the web app do.
    world.advance(now)
    world.advance(now + 30)
    warning = world.memory_warning(now + 30)
    return [
        *([warning] if warning else []),
        *_imports(world, now + 30),
        *_pages(world, now + 30),
    ]


def _favicons(world: World, now: float) -> list[Outcome]:
    outcomes = [world.fetch_favicon("github.com", now) for _ in range(5)]
    return [o for o in outcomes if o is not None]


#: What each scenario breaks: the paths to exercise to see its symptom.
TRIGGERS: dict[str, Callable[[World, float], list[Outcome]]] = {
    "large_chrome_import": _imports,
    "memory_leak": _leaks,
    "duplicate_bookmarks": _imports,
    "search_index_lost": _searches,
    "redis_outage": _pages,
    "traffic_surge": _searches,
    "latency_creep": _leaks,
    "favicon_upstream_5xx": _favicons,
    "malformed_import": _imports,
}

#: (service, operation, params) the seeded rule's action sends for the scenario's root cause
#: (remediation/fixtures/rules.json + remediation/actions/builtin.py; the duplicate check's
#: seeded rule is a local command, the scenario's own remediation is the dedupe webhook).
REMEDIATIONS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "large_chrome_import": ("import-worker", "retry_import", {"batch_size": 500, "import_id": ""}),
    "memory_leak": (
        "import-worker",
        "restart",
        {"instances": ["import-worker-1"], "rolling": True},
    ),
    "duplicate_bookmarks": ("import-worker", "webhook/bookmarks/dedupe", {}),
    "search_index_lost": ("search", "clear_cache", {"cache": "search", "pattern": "*"}),
    "redis_outage": (
        "bookmarks",
        "feature_flag",
        {"flag": "db_sessions_fallback", "enabled": True},
    ),
    "traffic_surge": ("search", "scale", {"delta": 2}),
    "latency_creep": ("bookmarks", "restart", {"instances": ["bookmarks-1"], "rolling": True}),
    "favicon_upstream_5xx": (
        "favicon-fetcher",
        "feature_flag",
        {"flag": "favicon_fetch", "enabled": False, "duration_minutes": 60},
    ),
    "malformed_import": (
        "import-worker",
        "feature_flag",
        {"flag": "lenient_html_import", "enabled": True},
    ),
}


def _errors(outcomes: list[Outcome]) -> list[tuple[str, str, str]]:
    return [error for outcome in outcomes for error in outcome.errors]


def _api(world: World, retries: Retries) -> ControlAPI:
    return ControlAPI(world, retry_imports=retries, clock=lambda: NOW)


def test_every_scenario_is_covered_here() -> None:
    assert set(TRIGGERS) == set(REMEDIATIONS) == set(FAULTY)
    assert set(scenarios.DEMO_CYCLE) <= set(FAULTY)
    assert set(scenarios.QUICK) <= set(scenarios.SCENARIOS)


def test_a_healthy_world_has_no_faults_and_no_errors() -> None:
    world = World(seed=1)
    scenarios.get("healthy").inject(world)
    assert world.faulty() == []
    for trigger in TRIGGERS.values():
        assert _errors(trigger(world, NOW)) == []
    assert world.signals(None, NOW) == {}
    assert world.health(None, NOW) == {"status": "healthy", "signals": {}}


def test_unknown_scenario_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="unknown scenario 'nope'; known: .*large_chrome_import"):
        scenarios.get("nope")


@pytest.mark.parametrize("name", FAULTY)
def test_injection_makes_exactly_its_root_cause_present_and_visible(name: str) -> None:
    scenario = scenarios.get(name)
    world = World(seed=3)
    scenario.inject(world)
    assert world.faulty() == [scenario.root_cause]

    errors = _errors(TRIGGERS[name](world, NOW))
    signals = {signal for _, signal, _ in errors}
    assert scenario.root_cause in signals, f"{name} produced {signals or 'no errors'}"
    assert {service for service, signal, _ in errors if signal == scenario.root_cause} == {
        scenario.service
    }
    assert world.signals(scenario.service, NOW + 30)[scenario.root_cause] >= 1
    assert world.health(scenario.service, NOW + 30)["status"] in ("degraded", "unhealthy")


@pytest.mark.parametrize("name", FAULTY)
def test_the_seeded_rules_operation_through_the_control_api_ends_it(name: str) -> None:
    scenario = scenarios.get(name)
    world, retries = World(seed=4), Retries()
    scenario.inject(world)
    TRIGGERS[name](world, NOW)  # the symptom has shown

    service, operation, params = REMEDIATIONS[name]
    answer = _api(world, retries).perform(
        service, operation, {"run": 1, "instance": instance_of(service), "params": params}, "k"
    )
    assert answer["ok"] is True
    assert world.faulty() == []
    later = NOW + 2 * SIGNAL_WINDOW_S
    errors = [e for e in _errors(TRIGGERS[name](world, later)) if e[1] == scenario.root_cause]
    assert errors == [], f"{name} still shows {errors[0][2] if errors else ''}"


@pytest.mark.parametrize("name", FAULTY)
def test_the_human_fix_ends_it(name: str) -> None:
    scenario = scenarios.get(name)
    world = World(seed=5)
    scenario.inject(world)
    TRIGGERS[name](world, NOW)
    scenario.human_fix(world)
    assert world.faulty() == []
    later = NOW + 2 * SIGNAL_WINDOW_S
    assert [e for e in _errors(TRIGGERS[name](world, later)) if e[1] == scenario.root_cause] == []


@pytest.mark.parametrize("name", FAULTY)
def test_a_wrong_operation_leaves_the_fault(name: str) -> None:
    """Only the right remediation ends a fault: e.g. clearing a cache fixes no import."""
    world = World(seed=6)
    scenarios.get(name).inject(world)
    wrong = "clear_cache" if name != "search_index_lost" else "scale"
    params = {"cache": "default"} if wrong == "clear_cache" else {"delta": 1}
    _api(world, Retries()).perform("bookmarks", wrong, {"params": params}, "")
    assert world.faulty() == [scenarios.get(name).root_cause]


def test_timed_out_chrome_imports_are_handed_back_for_retry_with_the_new_batch_size() -> None:
    world, retries = World(seed=8), Retries()
    scenarios.get("large_chrome_import").inject(world)
    job = _job("chrome", 25_000)
    failed = world.run_import(job, NOW)
    assert failed.status == 500
    assert failed.details["error_type"] == "SoftTimeLimitExceeded"
    assert failed.details["batch_size"] == 8000
    assert BATCH_TIME_LIMIT_S < 8000 * 6.0 / 1000  # an 8000-item Chrome batch takes 48 s

    answer = _api(world, retries).perform(
        "import-worker", "retry_import", {"params": {"batch_size": 500}}, ""
    )
    assert answer["batch_size"] == 500 and answer["retried"] == 1
    assert retries.jobs == [job]
    assert world.snapshot()["failed_imports"] == 0
    done = world.run_import(job, NOW + 1)
    assert done.status == 200
    assert done.details == {"batch_size": 500, "imported": 25_000, "duplicates": 0}
    assert job.attempts == 2


def test_import_failures_name_their_exception_class() -> None:
    world = World(seed=9)
    scenarios.get("malformed_import").inject(world)
    outcome = world.run_import(_job("html", 200, malformed=True), NOW)
    assert outcome.details["error_type"] == "HTMLParseError"
    assert "unexpected end tag" in outcome.details["error"]
    world.set_flag("imports_enabled", False)
    assert world.run_import(_job("html", 200, malformed=True), NOW).status == 503


def test_memory_leak_grows_with_time_and_a_restart_frees_it() -> None:
    world = World(seed=10)
    scenarios.get("memory_leak").inject(world)
    worker = instance_of("import-worker")
    world.advance(NOW)
    assert world.memory_warning(NOW) is None  # just under the soft limit at first
    world.advance(NOW + 10)
    warning = world.memory_warning(NOW + 10)
    assert warning is not None and "exceeds 80% of limit 2048 MiB" in warning.errors[0][2]
    assert world.gauges()[SERVICES.index("import-worker")][2] > 1638
    assert world.restart([worker]) == [worker]
    assert world.memory_mb[worker] == MEMORY_BASELINE_MB
    world.advance(NOW + 100)
    assert world.memory_mb[worker] == MEMORY_BASELINE_MB  # the leak stopped too


def test_latency_creeps_before_the_pool_runs_out() -> None:
    world = World(seed=11)
    baseline = sum(
        world.handle_request("list", authenticated=True, now=NOW).latency_ms for _ in range(200)
    )
    scenarios.get("latency_creep").inject(world)
    world.advance(NOW)
    world.advance(NOW + 10)  # 8 + 6 connections held: slower, not failing yet
    creeping = [world.handle_request("list", authenticated=True, now=NOW) for _ in range(200)]
    assert all(o.status == 200 for o in creeping)
    assert sum(o.latency_ms for o in creeping) > 1.5 * baseline
    world.advance(NOW + 30)
    assert world.pool_in_use == DB_POOL_SIZE
    assert world.handle_request("list", authenticated=True, now=NOW).status == 500
    assert world.handle_request("login", authenticated=True, now=NOW).status == 200


def test_the_session_outage_spares_anonymous_requests() -> None:
    world = World(seed=12)
    scenarios.get("redis_outage").inject(world)
    failed = world.handle_request("list", authenticated=True, now=NOW)
    assert failed.status == 500
    assert "redis.exceptions.ConnectionError" in failed.errors[0][2]
    assert world.handle_request("list", authenticated=False, now=NOW).status == 200


def test_signals_count_the_last_minute_per_service_then_decay() -> None:
    world = World(seed=13)
    scenarios.get("redis_outage").inject(world)
    scenarios.get("search_index_lost").inject(world)
    for _ in range(3):
        world.handle_request("list", authenticated=True, now=NOW)
    world.handle_request("search", authenticated=False, now=NOW + 10)

    assert world.signals(None, NOW + 10) == {"session_store_down": 3, "search_latency_high": 1}
    assert world.signals("bookmarks", NOW + 10) == {"session_store_down": 3}
    assert world.signals("search", NOW + 10) == {"search_latency_high": 1}
    assert world.health("favicon-fetcher", NOW + 10) == {"status": "healthy", "signals": {}}
    assert world.health("bookmarks", NOW + 10)["status"] == "degraded"

    assert world.signals(None, NOW + SIGNAL_WINDOW_S) == {
        "session_store_down": 3, "search_latency_high": 1,
    }  # fmt: skip
    assert world.signals(None, NOW + SIGNAL_WINDOW_S + 1) == {"search_latency_high": 1}
    assert world.signals(None, NOW + SIGNAL_WINDOW_S + 11) == {}
    assert world.health(None, NOW + SIGNAL_WINDOW_S + 11) == {"status": "healthy", "signals": {}}


def test_thirty_errors_in_a_minute_is_unhealthy() -> None:
    world = World(seed=14)
    scenarios.get("redis_outage").inject(world)
    for i in range(29):
        world.handle_request("detail", authenticated=True, now=NOW + i)
    assert world.health("bookmarks", NOW + 29)["status"] == "degraded"
    world.handle_request("detail", authenticated=True, now=NOW + 29)
    assert world.health("bookmarks", NOW + 29) == {
        "status": "unhealthy", "signals": {"session_store_down": 30},
    }  # fmt: skip


def test_the_world_is_reproducible_from_its_seed() -> None:
    def run(seed: int) -> list[float]:
        world = World(seed=seed)
        scenarios.get("traffic_surge").inject(world)
        return [o.latency_ms for o in _searches(world, NOW)]

    assert run(21) == run(21)
    assert run(21) != run(22)


def test_reset_reverts_faults_and_mitigations_but_keeps_the_signal_history() -> None:
    world = World(seed=3)
    scenarios.get("redis_outage").inject(world)
    world.handle_request("list", authenticated=True, now=NOW)
    world.set_flag("db_sessions_fallback", True)  # the mitigation of that fault
    world.scale("search", 2)
    scenarios.get("traffic_surge").inject(world)

    world.reset()

    fresh = World(seed=3)
    assert world.faulty() == []
    assert world.flags == fresh.flags and world.replicas == fresh.replicas
    assert (world.traffic_multiplier, world.extra_search_rps) == (1.0, 0.0)
    assert world.signals("bookmarks", NOW) == {"session_store_down": 1}
    # A mitigation left over from the last incident no longer hides the next one.
    scenarios.get("redis_outage").inject(world)
    assert world.faulty() == ["session_store_down"]
