"""The service registry: register, beat, health-check (a real local HTTP server), discover."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from agents import service_registry as registry
from agents.models import ApiToken, CheckResult, InstanceStatus, ServiceInstance
from agents.tasks import check_service_health

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_token_cache")]


class HealthHandler(BaseHTTPRequestHandler):
    """/ok → 200, /degraded → 200 {"status": "degraded"}, /fail → 503, /slow → 200 late."""

    def do_GET(self) -> None:
        if self.path == "/slow":
            time.sleep(0.3)
        status = 503 if self.path == "/fail" else 200
        state = {"/fail": "error", "/degraded": "degraded"}.get(self.path, "ok")
        body = json.dumps({"status": state}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def health_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), HealthHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def auth() -> dict[str, str]:
    _, token = ApiToken.issue("web pods", "bookmarks")
    return {"Authorization": f"Bearer {token}"}


def register(client, auth, **body):
    return client.post(
        "/api/v1/services/register", json.dumps(body), content_type="application/json", headers=auth
    )


def instance(instance_id: str) -> ServiceInstance:
    return ServiceInstance.objects.select_related("service").get(instance_id=instance_id)


def age_heartbeat(instance_id: str, seconds: int) -> None:
    ServiceInstance.objects.filter(instance_id=instance_id).update(
        last_heartbeat_at=timezone.now() - timedelta(seconds=seconds)
    )


# --- Status derivation (on the model) ------------------------------------------------------


def test_a_fresh_instance_is_up():
    found = registry.register_instance("bookmarks", "web-1")

    assert found.get_status() == InstanceStatus.UP


def test_an_instance_past_its_heartbeat_ttl_is_stale():
    registry.register_instance("bookmarks", "web-1", heartbeat_ttl_seconds=30)
    age_heartbeat("web-1", 31)

    assert instance("web-1").get_status() == InstanceStatus.STALE


def test_a_failed_health_check_means_down(health_server):
    found = registry.register_instance("bookmarks", "web-1", health_url=f"{health_server}/fail")

    assert registry.check_instance_health(found.pk) == CheckResult.FAILED

    checked = instance("web-1")
    assert checked.get_status() == InstanceStatus.DOWN
    assert checked.last_check_error == "HTTP 503"
    assert checked.last_checked_at is not None


def test_a_health_body_saying_degraded_means_degraded(health_server):
    found = registry.register_instance("bookmarks", "web-1", health_url=f"{health_server}/degraded")

    registry.check_instance_health(found.pk)

    assert instance("web-1").get_status() == InstanceStatus.DEGRADED


def test_a_slow_health_check_means_degraded(health_server, monkeypatch):
    monkeypatch.setattr(registry, "DEGRADED_LATENCY_MS", 100.0)
    found = registry.register_instance("bookmarks", "web-1", health_url=f"{health_server}/slow")

    registry.check_instance_health(found.pk)

    checked = instance("web-1")
    assert checked.get_status() == InstanceStatus.DEGRADED
    assert checked.last_check_latency_ms >= 300


def test_an_unreachable_instance_is_down():
    found = registry.register_instance("bookmarks", "web-1", health_url="http://127.0.0.1:1/health")

    registry.check_instance_health(found.pk)

    checked = instance("web-1")
    assert checked.get_status() == InstanceStatus.DOWN
    assert "ConnectError" in checked.last_check_error


def test_a_passing_check_brings_a_down_instance_back_up(health_server):
    found = registry.register_instance("bookmarks", "web-1", health_url=f"{health_server}/fail")
    registry.check_instance_health(found.pk)
    ServiceInstance.objects.filter(pk=found.pk).update(health_url=f"{health_server}/ok")

    registry.check_instance_health(found.pk)

    checked = instance("web-1")
    assert checked.get_status() == InstanceStatus.UP
    assert checked.last_check_error == ""


def test_the_periodic_task_checks_every_instance(health_server):
    registry.register_instance("bookmarks", "web-1", health_url=f"{health_server}/ok")
    registry.register_instance("bookmarks", "web-2", health_url=f"{health_server}/fail")
    registry.register_instance("bookmarks", "web-3")  # no health URL: heartbeats only

    assert check_service_health() == 2

    assert instance("web-1").last_check_result == CheckResult.OK
    assert instance("web-2").get_status() == InstanceStatus.DOWN
    assert instance("web-3").last_checked_at is None


# --- API ---------------------------------------------------------------------------------------


def test_an_instance_registers_as_the_tokens_service(client, auth, health_server):
    response = register(
        client,
        auth,
        instance="web-1",
        version="1.4.2",
        base_url="http://web-1:8000",
        health_url=f"{health_server}/ok",
        tags={"zone": "a"},
        heartbeat_ttl_seconds=15,
    )

    assert response.status_code == 201
    body = response.json()
    assert (body["service"], body["instance"], body["status"]) == ("bookmarks", "web-1", "up")
    found = instance("web-1")
    assert found.version == "1.4.2"
    assert found.service.version == "1.4.2"
    assert found.tags == {"zone": "a"}
    assert found.heartbeat_ttl_seconds == 15


def test_registering_again_updates_the_same_instance(client, auth):
    register(client, auth, instance="web-1", version="1.0")
    age_heartbeat("web-1", 3600)

    response = register(client, auth, instance="web-1", version="1.1")

    assert response.json()["status"] == "up"
    assert ServiceInstance.objects.count() == 1
    assert instance("web-1").version == "1.1"


def test_registration_names_a_bad_field(client, auth):
    response = register(client, auth, instance="", health_url="not a url")

    assert response.status_code == 400
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"instance", "health_url"}


def test_registration_needs_a_token(client):
    response = register(client, {}, instance="web-1")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"


def test_a_heartbeat_revives_a_stale_instance(client, auth):
    register(client, auth, instance="web-1")
    age_heartbeat("web-1", 3600)
    assert instance("web-1").get_status() == InstanceStatus.STALE

    response = client.post("/api/v1/services/bookmarks/instances/web-1/heartbeat", headers=auth)

    assert response.status_code == 200
    assert response.json()["status"] == "up"
    assert instance("web-1").get_status() == InstanceStatus.UP


def test_a_heartbeat_from_an_unregistered_instance_is_404(client, auth):
    response = client.post("/api/v1/services/bookmarks/instances/ghost/heartbeat", headers=auth)

    assert response.status_code == 404
    assert "not registered" in response.json()["detail"]


def test_discovery_with_healthy_1_leaves_out_stale_and_down_instances(client, auth, health_server):
    for name, path in [("web-1", "ok"), ("web-2", "degraded"), ("web-3", "fail"), ("web-4", "ok")]:
        register(client, auth, instance=name, health_url=f"{health_server}/{path}")
    age_heartbeat("web-4", 3600)
    check_service_health()

    every = client.get("/api/v1/services/bookmarks/instances", headers=auth).json()
    healthy = client.get("/api/v1/services/bookmarks/instances?healthy=1", headers=auth).json()

    assert {i["instance"]: i["status"] for i in every["instances"]} == {
        "web-1": "up",
        "web-2": "degraded",
        "web-3": "down",
        "web-4": "stale",
    }
    assert [i["instance"] for i in healthy["instances"]] == ["web-1", "web-2"]
    assert [i.instance_id for i in registry.healthy_instances("bookmarks")] == [
        "web-1",
        "web-2",
    ]


def test_discovery_of_an_unknown_service_is_404(client, auth):
    response = client.get("/api/v1/services/nobody/instances", headers=auth)

    assert response.status_code == 404


def test_discovery_refuses_a_bad_healthy_flag_with_400(client, auth):
    registry.register_instance("bookmarks", "web-1")

    response = client.get("/api/v1/services/bookmarks/instances?healthy=maybe", headers=auth)

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "healthy"


# --- Admin -----------------------------------------------------------------------------------


def test_admin_lists_instances_with_their_status_as_text(client, admin_user):
    registry.register_instance("bookmarks", "web-1")
    registry.register_instance("bookmarks", "web-2")
    age_heartbeat("web-2", 3600)
    client.force_login(admin_user)

    page = client.get("/admin/agents/serviceinstance/").content.decode()
    service = client.get(
        f"/admin/agents/service/{instance('web-1').service_id}/change/"
    ).content.decode()

    assert ">up<" in page
    assert ">stale<" in page
    assert "stale" in service
    assert client.get("/admin/agents/service/").status_code == 200
