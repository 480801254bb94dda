"""The control API over real HTTP (a ControlServer on a free port), and the client our
remediation uses (``remediation.actions.control``) against it, found through the registry.

The last test executes every seeded rule's real action (``remediation/fixtures/rules.json``)
against the simulator and checks the scenario it answers is over.
"""

from __future__ import annotations

import json

import httpx
import pytest
from django.conf import settings

from agents.service_registry import register_instance
from remediation.actions import ActionContext, ActionError, get_action
from remediation.actions import control as control_client
from simulator import scenarios
from simulator.control import MAX_BODY_BYTES, ControlAPI, ControlServer
from simulator.deployment import SERVICES, instance_of
from simulator.world import World
from tests.simulator.conftest import Retries

NOW = 1000.0  # the control_api fixture's clock


def _post(
    server: ControlServer, service: str, op: str, params: dict, key: str = ""
) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    body = {"run": 1, "instance": instance_of(service), "params": params}
    return httpx.post(
        f"{server.control_url(service)}/control/{op}", json=body, headers=headers, timeout=5
    )


def test_an_operation_answers_ok_and_changes_the_world(
    control_server: ControlServer, world: World
) -> None:
    response = _post(control_server, "bookmarks", "feature_flag",
                     {"flag": "db_sessions_fallback", "enabled": True})  # fmt: skip
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {
        "ok": True, "service": "bookmarks", "operation": "feature_flag",
        "flag": "db_sessions_fallback", "enabled": True, "previous": False,
    }  # fmt: skip
    assert world.flags["db_sessions_fallback"] is True


def test_the_same_idempotency_key_has_the_effect_once(
    control_server: ControlServer, control_api: ControlAPI, world: World
) -> None:
    first = _post(control_server, "search", "scale", {"delta": 2}, key="remediation-7-scale")
    again = _post(control_server, "search", "scale", {"delta": 2}, key="remediation-7-scale")
    assert first.status_code == again.status_code == 200
    assert first.json()["replicas"] == 4 and "replayed" not in first.json()
    assert again.json() == {**first.json(), "replayed": True}
    assert world.replicas["search"] == 4
    assert len(control_api.requests) == 1

    other = _post(control_server, "search", "scale", {"delta": 2}, key="remediation-8-scale")
    assert other.json()["replicas"] == 6
    unkeyed = [_post(control_server, "search", "scale", {"delta": -1}) for _ in range(2)]
    assert [r.json()["replicas"] for r in unkeyed] == [5, 4]


def test_webhook_operations_keep_their_path(control_server: ControlServer, world: World) -> None:
    scenarios.get("duplicate_bookmarks").inject(world)
    response = _post(control_server, "import-worker", "webhook/bookmarks/dedupe", {})
    assert response.status_code == 200 and response.json()["merged"] == 1
    assert world.faulty() == []


@pytest.mark.parametrize(
    ("op", "params", "reason"),
    [
        ("reboot", {}, "unknown operation 'reboot'"),
        ("webhook/certs/renew", {}, "unknown operation 'webhook/certs/renew'"),
        ("retry_import", {"batch_size": "500"}, "params.batch_size must be an integer"),
        ("retry_import", {"batch_size": 0}, "params.batch_size must be an integer in [1, 100000]"),
        ("retry_import", {"batch_size": True}, "params.batch_size"),
        ("scale", {"delta": 1.5}, "params.delta must be an integer in [-20, 20]"),
        ("restart", {"instances": "import-worker-1"}, "params.instances must be a list"),
        ("feature_flag", {"flag": "no_such_flag", "enabled": True}, "unknown feature flag"),
    ],
)
def test_refused_operations_answer_400_with_the_reason(
    control_server: ControlServer, control_api: ControlAPI, world: World, op, params, reason
) -> None:
    before = world.snapshot()
    response = _post(control_server, "import-worker", op, params, key=f"k-{op}")
    assert response.status_code == 400
    assert response.json()["ok"] is False
    assert reason in response.json()["error"]
    assert world.snapshot() == before
    assert control_api.requests == []


def test_a_refused_request_does_not_burn_its_idempotency_key(
    control_server: ControlServer, world: World
) -> None:
    bad = _post(control_server, "import-worker", "retry_import", {"batch_size": "x"}, key="k1")
    good = _post(control_server, "import-worker", "retry_import", {"batch_size": 500}, key="k1")
    assert (bad.status_code, good.status_code) == (400, 200)
    assert "replayed" not in good.json() and world.batch_size == 500


def test_an_unknown_service_is_refused(control_server: ControlServer) -> None:
    response = _post(control_server, "payments", "restart", {"instances": []})
    assert response.status_code in (400, 404)
    assert "payments" in response.json()["error"]
    health = httpx.get(f"{control_server.control_url('payments')}/control/health", timeout=5)
    assert health.status_code == 404


def test_paths_outside_the_api_are_not_found(control_server: ControlServer) -> None:
    assert httpx.post(f"{control_server.root_url}/control/restart", json={}).status_code == 404
    assert httpx.get(f"{control_server.control_url('search')}/control/scale").status_code == 404


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"restart"'])
def test_a_body_that_is_not_a_json_object_is_400(control_server: ControlServer, raw) -> None:
    response = httpx.post(
        f"{control_server.control_url('search')}/control/scale",
        content=raw,
        headers={"Content-Type": "application/json"},
        timeout=5,
    )
    assert response.status_code == 400
    assert response.json()["ok"] is False


def test_a_body_over_64_kib_is_413(control_server: ControlServer, world: World) -> None:
    body = {"params": {"delta": 1}, "padding": "x" * MAX_BODY_BYTES}
    response = httpx.post(
        f"{control_server.control_url('search')}/control/scale", json=body, timeout=5
    )
    assert response.status_code == 413
    assert response.json() == {"ok": False, "error": f"body over {MAX_BODY_BYTES} bytes"}
    assert world.replicas["search"] == 2
    small = {"params": {"delta": 1}, "padding": "x" * (MAX_BODY_BYTES - 100)}
    assert len(json.dumps(small)) <= MAX_BODY_BYTES
    ok = httpx.post(f"{control_server.control_url('search')}/control/scale", json=small)
    assert ok.status_code == 200 and world.replicas["search"] == 3


def test_health_reports_each_services_signals(control_server: ControlServer, world: World) -> None:
    def health(service: str) -> dict:
        response = httpx.get(f"{control_server.control_url(service)}/control/health", timeout=5)
        assert response.status_code == 200
        return response.json()

    for service in SERVICES:
        assert health(service) == {"status": "healthy", "signals": {}}
    scenarios.get("redis_outage").inject(world)
    for _ in range(5):
        world.handle_request("list", authenticated=True, now=NOW)
    assert health("bookmarks") == {"status": "degraded", "signals": {"session_store_down": 5}}
    assert health("search")["status"] == "healthy"
    for _ in range(25):
        world.handle_request("list", authenticated=True, now=NOW)
    assert health("bookmarks") == {"status": "unhealthy", "signals": {"session_store_down": 30}}


@pytest.fixture
def registered(control_server: ControlServer) -> ControlServer:
    for service in SERVICES:
        register_instance(
            service, instance_of(service), control_url=control_server.control_url(service)
        )
    return control_server


@pytest.mark.django_db
def test_the_remediation_client_calls_it_through_the_registry(
    registered: ControlServer, world: World, control_api: ControlAPI
) -> None:
    body = {"run": 7, "instance": "", "params": {"delta": 2}}
    answer = control_client.call("search", "scale", body, run_id=7)
    assert answer["ok"] is True and answer["replicas"] == 4
    again = control_client.call("search", "scale", body, run_id=7)  # a retry of the same run
    assert again["replayed"] is True and world.replicas["search"] == 4
    assert control_api.requests[0]["key"] == "remediation-7-scale"
    assert control_api.requests[0]["body"] == body

    with pytest.raises(ActionError, match="HTTP 400.*unknown operation 'reboot'"):
        control_client.call("search", "reboot", {"params": {}}, run_id=8)
    with pytest.raises(ActionError, match="no registered control URL"):
        control_client.call("payments", "scale", body, run_id=9)


@pytest.mark.django_db
def test_the_remediation_client_reads_health(registered: ControlServer, world: World) -> None:
    assert control_client.health("search") == {"status": "healthy", "signals": {}}
    scenarios.get("search_index_lost").inject(world)
    world.handle_request("search", authenticated=True, now=NOW)
    assert control_client.health("search") == {
        "status": "degraded", "signals": {"search_latency_high": 1},
    }  # fmt: skip
    assert control_client.health("payments") is None


def _seeded_rules() -> dict[str, dict]:
    path = settings.BASE_DIR / "remediation" / "fixtures" / "rules.json"
    return {rule["signal"]: rule for rule in json.loads(path.read_text())["rules"]}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name",
    [name for name, scenario in scenarios.SCENARIOS.items() if not scenario.healthy],
)
def test_the_seeded_rules_real_action_ends_the_scenario(
    name: str, registered: ControlServer, world: World, retries: Retries
) -> None:
    scenario = scenarios.get(name)
    rule = _seeded_rules()[scenario.root_cause]
    assert rule["action"] == scenario.remediation
    scenario.inject(world)
    instance = instance_of(scenario.service)
    action = get_action(rule["action"])(rule["parameters"], service=scenario.service,
                                        instance=instance)  # fmt: skip
    action.execute(
        ActionContext(
            run_id=40, service=scenario.service, instance=instance, signal=scenario.root_cause
        )  # fmt: skip
    )
    assert world.faulty() == []


@pytest.mark.parametrize("params", [[1], "delta=2"])
def test_params_that_are_not_an_object_are_400(control_server: ControlServer, params) -> None:
    response = httpx.post(
        f"{control_server.control_url('search')}/control/scale",
        json={"run": 1, "params": params},
        timeout=5,
    )
    assert response.status_code == 400
