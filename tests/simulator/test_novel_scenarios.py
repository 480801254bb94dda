"""The novel fault set on the world alone: each scenario makes exactly its own root cause
present, breaks the path it names with its own error, ends by the on-call fix, and is kept
out of the known set, the demo cycle and every seeded rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulator import novel_scenarios, scenarios
from simulator.deployment import ImportJob
from simulator.world import World

NOW = 1000.0
ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "remediation" / "fixtures" / "rules.json"
CATALOGUE = ROOT / "knowledge" / "fixtures" / "bookmark_catalogue.json"


def _errors(world: World, name: str) -> list[str]:
    """Texts of the errors the scenario's service produces over a few hundred tries."""
    found: list[str] = []
    for i in range(200):
        job = ImportJob(f"imp-{i}", "u1", ("pocket", "chrome")[i % 2], 500)
        outcomes = [
            world.run_import(job, NOW),
            world.handle_request("detail", authenticated=True, now=NOW),
            world.handle_request("list", authenticated=True, now=NOW),
            world.fetch_favicon("github.com", NOW),
        ]
        found += [text for o in outcomes if o for service, _, text in o.errors
                  if service == novel_scenarios.NOVEL[name].service]  # fmt: skip
    return found


@pytest.mark.parametrize("name", list(novel_scenarios.NOVEL))
def test_it_breaks_only_its_own_root_cause_and_ends_by_hand(name: str) -> None:
    scenario, world = scenarios.get(name), World(seed=3)
    scenario.inject(world)
    assert world.faulty() == [scenario.root_cause]
    world.take_changes()  # the bad release goes live when its deploy is announced
    errors = _errors(world, name)
    if name == "novel_cpu_saturation":
        assert errors == []
        assert world.handle_request("list", authenticated=True, now=NOW).latency_ms > 35 * 2
    else:
        assert errors, name
    scenario.human_fix(world)
    assert world.faulty() == []
    assert _errors(world, name) == []


def test_the_bad_release_is_live_only_once_its_deploy_is_announced() -> None:
    world = World(seed=3)
    scenarios.get("novel_bad_deploy").inject(world)
    assert world.handle_request("detail", authenticated=True, now=NOW).status == 200
    [(service, event_type, payload)] = world.take_changes()
    assert (service, event_type, payload["version"]) == ("bookmarks", "deploy.finished",
                                                          novel_scenarios.BAD_RELEASE)  # fmt: skip
    assert world.handle_request("detail", authenticated=True, now=NOW).status == 500


def test_the_novel_set_is_apart_from_the_known_one_and_no_rule_names_it() -> None:
    assert not set(novel_scenarios.NOVEL) & set(scenarios.SCENARIOS)
    assert not set(novel_scenarios.NOVEL) & set(scenarios.DEMO_CYCLE)
    signals = {s.root_cause for s in novel_scenarios.NOVEL.values()}
    rule_signals = {rule["signal"] for rule in json.loads(RULES.read_text())["rules"]}
    assert not signals & rule_signals
    catalogue = CATALOGUE.read_text()
    assert not [signal for signal in signals if f'"{signal}"' in catalogue]
    assert all(not s.remediation for s in novel_scenarios.NOVEL.values())
    assert set(novel_scenarios.ACCEPTABLE_CLASSES) == set(novel_scenarios.NOVEL)
