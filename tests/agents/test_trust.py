"""Trust boundaries at the ingest edge: what a token may say, and how each bad input is
answered. Every refusal is checked against the real Redis and PostgreSQL: nothing reaches a
stream, and no registry row moves, when a request is refused.

* a system event (diagnosis.ready, ...) from a token -> 403 naming ``type``;
* an event about a service the token does not speak for -> 403 naming ``source``;
* registering or heartbeating another service's instance -> 403 naming the field;
* a control URL on a metadata/link-local address or outside the allow-list -> 400;
* moving an existing service's control URL without the ``control`` scope -> 403;
* NUL characters, NaN, Infinity or 1e400 -> 400 naming the field;
* PostgreSQL down while the token is not cached -> 503 with Retry-After;
* more distinct custom types or metric series than the token's cap -> 400.
"""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.utils import timezone

from agents.models import Anomaly, AnomalyDetector, ApiToken, Service
from agents.monitor.recording import anomaly_event

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_token_cache")]

METADATA_URL = "http://169.254.169.254/latest/meta-data/"


@pytest.fixture
def token() -> str:
    return ApiToken.issue("web pods", "bookmarks", also_services=["import-worker"])[1]


@pytest.fixture
def send(client, token):
    def post(path: str, body=None, *, raw: bytes | None = None, bearer: str | None = None):
        data = raw if raw is not None else json.dumps(body)
        return client.post(
            path,
            data,
            content_type="application/json",
            headers={"Authorization": f"Bearer {bearer or token}"},
        )

    return post


def fields(response) -> list[str]:
    return [error["field"] for error in response.json().get("errors", [])]


def streams(redis) -> list[bytes]:
    return list(redis.scan_iter("events:*"))


def failed(**extra) -> dict:
    return {
        "type": "import.failed",
        "payload": {"import_id": "i-1", "error": "timeout"},
        **extra,
    }


# --- Who may say what -----------------------------------------------------------------------


def test_a_forged_diagnosis_is_refused_and_nothing_is_published(send, clean_redis):
    now = timezone.now()
    anomaly = Anomaly.objects.create(
        series="imports.failed", detector=AnomalyDetector.values[0], category="import",
        severity="error", score=0.9, value=40, window_start=now, window_end=now,
    )  # fmt: skip
    forged = json.loads(anomaly_event(anomaly).to_json())
    forged["source"] = "bookmarks"

    response = send("/api/v1/events", {"events": [failed(), forged]})

    assert response.status_code == 403
    assert fields(response) == ["events[1].type"]
    assert streams(clean_redis) == []


def test_an_event_about_another_service_is_refused(send, clean_redis):
    response = send("/api/v1/events", failed(source="billing"))

    assert response.status_code == 403
    assert fields(response) == ["source"]
    assert "billing" in response.json()["errors"][0]["reason"]
    assert streams(clean_redis) == []


def test_a_token_speaks_for_the_services_it_was_issued_for(send, clean_redis):
    response = send("/api/v1/events", {"events": [failed(), failed(source="import-worker")]})

    assert response.status_code == 202


def test_log_lines_for_another_service_are_refused(send, clean_redis):
    response = send(
        "/api/v1/logs", {"service": "billing", "lines": [{"level": "error", "message": "x"}]}
    )

    assert response.status_code == 403
    assert fields(response) == ["service"]
    assert streams(clean_redis) == []


def test_alerts_may_name_their_service_only_with_the_explicit_alertmanager_scope(client):
    hook = {
        "version": "4", "status": "firing", "receiver": "aiops",
        "alerts": [{"status": "firing", "labels": {"alertname": "Down", "service": "billing"}}],
    }  # fmt: skip
    plain = ApiToken.issue("am", "monitoring")[1]
    scoped = ApiToken.issue("am", "monitoring", scopes=["alertmanager"])[1]

    def post(bearer: str):
        return client.post(
            "/api/v1/alertmanager", json.dumps(hook), content_type="application/json",
            headers={"Authorization": f"Bearer {bearer}"},
        )  # fmt: skip

    assert post(plain).status_code == 403
    assert post(scoped).status_code == 202


# --- Registry -----------------------------------------------------------------------------------


def test_a_foreign_registration_is_refused(send):
    response = send(
        "/api/v1/services/register",
        {"service": "billing", "instance": "b-1", "control_url": "http://127.0.0.1:9/"},
    )

    assert response.status_code == 403
    assert fields(response) == ["service"]
    assert not Service.objects.filter(name="billing").exists()


def test_a_heartbeat_for_another_service_is_refused(send):
    response = send("/api/v1/services/billing/instances/b-1/heartbeat", {})

    assert response.status_code == 403
    assert fields(response) == ["name"]


@pytest.mark.parametrize(
    "url",
    [METADATA_URL, "http://[fe80::1]/", "http://metadata.google.internal/", "http://10.1.2.3/"],
)
def test_a_control_url_outside_the_allow_list_is_refused(send, url):
    response = send("/api/v1/services/register", {"instance": "web-1", "control_url": url})

    assert response.status_code == 400
    assert fields(response) == ["control_url"]
    assert not Service.objects.filter(name="bookmarks").exists()


def test_metadata_is_refused_even_when_an_admin_allows_everything(send, settings):
    settings.CONTROL_URL_ALLOWED_NETWORKS = ["0.0.0.0/0", "::/0"]

    response = send("/api/v1/services/register", {"instance": "web-1", "control_url": METADATA_URL})

    assert response.status_code == 400
    assert "link-local" in response.json()["errors"][0]["reason"]


def test_moving_a_control_url_needs_the_control_scope(send, client):
    first = send(
        "/api/v1/services/register",
        {"instance": "web-1", "control_url": "http://127.0.0.1:8001/svc/bookmarks"},
    )
    moved = send(
        "/api/v1/services/register",
        {"instance": "web-2", "control_url": "http://127.0.0.1:9999/evil"},
    )
    control = ApiToken.issue("deployer", "bookmarks", scopes=["registry", "control"])[1]
    allowed = send(
        "/api/v1/services/register",
        {"instance": "web-1", "control_url": "http://127.0.0.1:8002/svc/bookmarks"},
        bearer=control,
    )

    assert first.status_code == 201
    assert moved.status_code == 403
    assert fields(moved) == ["control_url"]
    assert allowed.status_code == 201
    assert (
        Service.objects.get(name="bookmarks").control_url == "http://127.0.0.1:8002/svc/bookmarks"
    )


# --- Values the stores cannot hold ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"type": "import.failed", "payload": {"import_id": "a\\u0000b", "error": "x"}}',
         "payload.import_id"),
        (b'{"type": "import.failed", "payload": {"import_id": "a", "error": "x", "n": 1e400}}',
         "payload.n"),
        (b'{"type": "import.failed", "payload": {"import_id": "a", "error": "x", "n": NaN}}',
         "body"),
        (b'{"type": "import.failed", "payload": {"import_id": "a", "error": "x", "n": -Infinity}}',
         "body"),
    ],
)  # fmt: skip
def test_values_the_stores_cannot_hold_are_refused_naming_the_field(send, clean_redis, raw, field):
    response = send("/api/v1/events", raw=raw)

    assert response.status_code == 400
    assert fields(response) == [field]
    assert streams(clean_redis) == []


def test_a_nul_byte_in_a_registration_is_a_400(send):
    response = send("/api/v1/services/register", raw=b'{"instance": "web\\u00001"}')

    assert response.status_code == 400
    assert fields(response) == ["instance"]


def test_an_uncached_token_while_postgres_is_down_is_a_503(send, monkeypatch):
    connection.close()
    monkeypatch.setitem(connection.settings_dict, "HOST", "/nonexistent-socket-dir")
    monkeypatch.setitem(connection.settings_dict, "PORT", "1")

    response = send("/api/v1/events", failed())

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    connection.close()


# --- Caps ---------------------------------------------------------------------------------------


def test_custom_types_past_the_tokens_cap_are_refused(send, clean_redis, settings):
    settings.INGEST_MAX_CUSTOM_TYPES_PER_TOKEN = 3
    first = send("/api/v1/events", {"events": [{"type": f"custom.t{i}"} for i in range(3)]})

    again = send("/api/v1/events", {"type": "custom.t1"})
    past = send("/api/v1/events", {"events": [{"type": "custom.t1"}, {"type": "custom.t9"}]})

    assert (first.status_code, again.status_code, past.status_code) == (202, 202, 400)
    assert fields(past) == ["events[1].type"]
    assert not clean_redis.exists("events:custom.t9")


def test_metric_series_past_the_tokens_cap_are_refused(send, clean_redis, settings):
    settings.INGEST_MAX_METRIC_SERIES_PER_TOKEN = 2

    def sample(name: str, **labels) -> dict:
        return {"type": "metric.sample", "payload": {"name": name, "value": 1, "labels": labels}}

    ok = send("/api/v1/events", {"events": [sample("rss", pod="a"), sample("rss", pod="b")]})
    past = send("/api/v1/events", {"events": [sample("rss", pod="a"), sample("rss", pod="c")]})

    assert (ok.status_code, past.status_code) == (202, 400)
    assert fields(past) == ["events[1].payload.name"]
    assert clean_redis.xlen("events:metric.sample") == 2
