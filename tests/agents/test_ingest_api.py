"""POST /api/v1/events and /api/v1/logs: what is accepted, what is refused and why.

Every refusal is checked against the real Redis: nothing reaches a stream when a request
is refused.
"""

from __future__ import annotations

import json
import re

import pytest
from prometheus_client import REGISTRY

import core.redis as redis_client
from agents.events import Event
from agents.ingest import bodies
from agents.ingest.refusals import IngestRefused
from agents.mesh import EVENT_FIELD
from agents.models import ApiToken

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_token_cache")]


@pytest.fixture
def token() -> str:
    return ApiToken.issue("web pods", "bookmarks", also_services=["importer"])[1]


@pytest.fixture
def post(client, token):
    def send(path: str, body, *, raw: bytes | None = None, **headers):
        headers.setdefault("Authorization", f"Bearer {token}")
        data = raw if raw is not None else json.dumps(body)
        return client.post(path, data, content_type="application/json", headers=headers)

    return send


def failed(i: int = 0, **payload) -> dict:
    return {
        "type": "import.failed",
        "severity": "error",
        "payload": {"import_id": f"imp-{i}", "error": "timeout", **payload},
    }


def stream_events(redis, stream: str) -> list[Event]:
    return [Event.from_json(f[EVENT_FIELD.encode()]) for _, f in redis.xrange(stream)]


def event_streams(redis) -> list[bytes]:
    return list(redis.scan_iter("events:*"))


def refused(endpoint: str, reason: str) -> float:
    labels = {"endpoint": endpoint, "reason": reason}
    return REGISTRY.get_sample_value("ai_ops_ingest_refused_total", labels) or 0.0


# --- Accepted -----------------------------------------------------------------------------------


def test_it_accepts_one_event_with_the_tokens_service_as_source(post, clean_redis):
    response = post("/api/v1/events", failed())

    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == 1
    [event] = stream_events(clean_redis, "events:import.failed")
    assert body["ids"] == [event.id]
    assert event.source == "bookmarks"
    assert event.severity == "error"


def test_it_keeps_a_source_the_event_names(post, clean_redis):
    post("/api/v1/events", {**failed(), "source": "importer"})

    [event] = stream_events(clean_redis, "events:import.failed")
    assert event.source == "importer"


def test_it_accepts_a_batch_and_answers_the_ids_in_order(post, clean_redis):
    batch = [failed(i) for i in range(5)] + [
        {"type": "bookmark.created", "payload": {"user_id": "u1"}}
    ]

    response = post("/api/v1/events", {"events": batch})

    assert response.status_code == 202
    ids = response.json()["ids"]
    assert len(ids) == 6
    stored = stream_events(clean_redis, "events:import.failed")
    assert [e.id for e in stored] == ids[:5]
    assert [e.payload["import_id"] for e in stored] == [f"imp-{i}" for i in range(5)]
    assert clean_redis.xlen("events:bookmark.created") == 1


def test_it_keeps_ids_the_client_chose(post, clean_redis):
    response = post("/api/v1/events", {**failed(), "id": "01J0000000000000000000CLNT"})

    assert response.json()["ids"] == ["01J0000000000000000000CLNT"]


def test_it_observes_ingest_latency(post):
    before = REGISTRY.get_sample_value("ai_ops_ingest_seconds_count", {"endpoint": "events"}) or 0

    post("/api/v1/events", failed())

    after = REGISTRY.get_sample_value("ai_ops_ingest_seconds_count", {"endpoint": "events"})
    assert after == before + 1


# --- Refused: bodies ----------------------------------------------------------------------------


def test_it_refuses_malformed_json_with_400(post, clean_redis):
    response = post("/api/v1/events", None, raw=b'{"type": "import.failed", ')

    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == "request body is not valid JSON"
    assert body["errors"][0]["field"] == "body"
    assert "EOF" in body["errors"][0]["reason"]
    assert event_streams(clean_redis) == []


def test_it_refuses_an_empty_body_with_400(post):
    response = post("/api/v1/events", None, raw=b"")

    assert response.status_code == 400
    assert response.json()["errors"] == [{"field": "body", "reason": "a JSON body is required"}]


def test_it_refuses_a_json_array_with_400(post):
    response = post("/api/v1/events", [failed()])

    assert response.status_code == 400
    assert response.json()["errors"] == [{"field": "body", "reason": "must be an object"}]


def test_it_names_the_index_and_field_of_a_missing_payload_field(post):
    batch = [failed(i) for i in range(5)]
    del batch[3]["payload"]["import_id"]

    response = post("/api/v1/events", {"events": batch})

    assert response.status_code == 400
    body = response.json()
    assert body["errors"] == [{"field": "events[3].payload.import_id", "reason": "Field required"}]
    assert "events[3]" in body["detail"]


def test_it_names_a_wrong_type(post):
    response = post(
        "/api/v1/events",
        {
            "type": "bookmark.searched",
            "payload": {"user_id": "u", "results": "many", "latency_ms": 3},
        },
    )

    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["field"] == "payload.results"
    assert "integer" in error["reason"]


def test_it_names_a_bad_severity(post):
    response = post("/api/v1/events", {**failed(), "severity": "loud"})

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "severity"


def test_it_refuses_an_unknown_type_with_400(post, clean_redis):
    response = post("/api/v1/events", {"events": [failed(), {"type": "rocket.launched"}]})

    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["field"] == "events[1].type"
    assert "unknown event type 'rocket.launched'" in error["reason"]
    assert "'custom.*'" in error["reason"]


def test_it_accepts_a_type_under_the_custom_prefix(post, clean_redis):
    response = post("/api/v1/events", {"type": "custom.rocket.launched", "payload": {"n": 1}})

    assert response.status_code == 202
    assert clean_redis.xlen("events:custom.rocket.launched") == 1


def test_a_batch_with_one_bad_event_publishes_nothing(post, clean_redis):
    batch = [failed(i) for i in range(999)] + [{"type": "import.failed", "payload": {}}]

    response = post("/api/v1/events", {"events": batch})

    assert response.status_code == 400
    assert {e["field"] for e in response.json()["errors"]} == {
        "events[999].payload.import_id",
        "events[999].payload.error",
    }
    assert clean_redis.xlen("events:import.failed") == 0
    assert event_streams(clean_redis) == []


def test_it_refuses_more_than_1000_events_with_400(post, clean_redis):
    batch = [{"type": "user.activity", "payload": {"user_id": "u", "action": "a"}}] * 1001

    response = post("/api/v1/events", {"events": batch})

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "events", "reason": "at most 1000 items per request, got 1001"}
    ]
    assert event_streams(clean_redis) == []


def test_it_refuses_an_empty_batch_with_400(post):
    response = post("/api/v1/events", {"events": []})

    assert response.status_code == 400
    assert response.json()["errors"] == [{"field": "events", "reason": "must not be empty"}]


def test_it_refuses_a_body_over_the_size_limit_with_413(post, settings, clean_redis):
    settings.INGEST_MAX_BODY_BYTES = 2048
    batch = [failed(i, error="x" * 100) for i in range(20)]

    response = post("/api/v1/events", {"events": batch})

    assert response.status_code == 413
    assert "limit is 2048 bytes" in response.json()["detail"]
    assert event_streams(clean_redis) == []
    assert refused("events", "too_large") >= 1


def test_it_refuses_by_the_declared_length_before_reading(post, settings):
    settings.INGEST_MAX_BODY_BYTES = 2048

    response = post("/api/v1/events", failed(), CONTENT_LENGTH="999999999")

    assert response.status_code == 413
    assert "999999999 bytes" in response.json()["detail"]


def test_it_refuses_by_the_real_length_when_none_is_declared(settings):
    settings.INGEST_MAX_BODY_BYTES = 2048

    with pytest.raises(IngestRefused) as refusal:
        bodies.decode_json(b" " * 2049)

    assert refusal.value.status == 413


# --- Refused: tokens and rate limits -----------------------------------------------------------


def test_it_refuses_a_missing_token_with_401(post, clean_redis):
    response = post("/api/v1/events", failed(), Authorization="")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert "missing bearer token" in response.json()["detail"]
    assert event_streams(clean_redis) == []


def test_it_refuses_an_unknown_token_with_401(post):
    response = post("/api/v1/events", failed(), Authorization="Bearer aiops_nope")

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["detail"] == "unknown or revoked token"


def test_it_refuses_a_non_bearer_scheme_with_401(post, token):
    response = post("/api/v1/events", failed(), Authorization=f"Basic {token}")

    assert response.status_code == 401


def test_it_answers_429_with_retry_after_past_the_rate_limit(post, settings, clean_redis):
    settings.INGEST_RATE_LIMIT_PER_MINUTE = 2
    before = refused("events", "rate_limited")

    statuses = [post("/api/v1/events", {"events": [failed(1), failed(2)]}).status_code]
    statuses.append(post("/api/v1/events", failed(3)).status_code)
    response = post("/api/v1/events", failed(4))

    assert statuses == [202, 202]
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert "2 requests per minute" in response.json()["detail"]
    assert clean_redis.xlen("events:import.failed") == 3  # the batch counted as one request
    assert refused("events", "rate_limited") == before + 1


def test_rate_limits_are_per_token(post, settings, client):
    settings.INGEST_RATE_LIMIT_PER_MINUTE = 1
    post("/api/v1/events", failed())
    _, other = ApiToken.issue("cron", "bookmarks")

    response = post("/api/v1/events", failed(), Authorization=f"Bearer {other}")

    assert response.status_code == 202


def test_it_answers_503_when_redis_is_down(post, settings, monkeypatch):
    # A port nobody listens on: the real client fails to connect, as in an outage.
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    monkeypatch.setattr(redis_client, "_client", None)

    response = post("/api/v1/events", failed())

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert "unavailable" in response.json()["detail"]


# --- Logs -----------------------------------------------------------------------------------


def test_it_turns_log_lines_into_log_line_events(post, clean_redis):
    response = post(
        "/api/v1/logs",
        {
            "service": "importer",
            "instance": "worker-2",
            "lines": [
                {"level": "ERROR", "message": "import imp-7 failed", "logger": "imports"},
                {
                    "level": "warn",
                    "message": "slow batch",
                    "timestamp": "2026-01-31T12:00:00+01:00",
                    "fields": {"batch": 3},
                },
                {"level": "verbose", "message": "odd level"},
            ],
        },
    )

    assert response.status_code == 202
    assert response.json()["accepted"] == 3
    error, warning, odd = stream_events(clean_redis, "events:log.line")
    assert (error.source, error.instance, error.severity) == ("importer", "worker-2", "error")
    assert error.payload["message"] == "import imp-7 failed"
    assert error.payload["logger"] == "imports"
    assert warning.severity == "warning"
    assert warning.timestamp.isoformat() == "2026-01-31T11:00:00+00:00"
    assert warning.payload["fields"] == {"batch": 3}
    assert odd.severity == "info"


def test_it_accepts_one_log_line_as_the_tokens_service(post, clean_redis):
    response = post("/api/v1/logs", {"level": "critical", "message": "disk full"})

    assert response.status_code == 202
    [event] = stream_events(clean_redis, "events:log.line")
    assert (event.source, event.severity) == ("bookmarks", "critical")


def test_it_names_the_bad_log_line_and_publishes_none(post, clean_redis):
    response = post(
        "/api/v1/logs",
        {"lines": [{"level": "info", "message": "ok"}, {"level": "info", "message": ""}]},
    )

    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["field"] == "lines[1].message"
    assert "at least 1 character" in error["reason"]
    assert event_streams(clean_redis) == []


def test_it_refuses_a_log_line_without_a_level(post):
    response = post("/api/v1/logs", {"message": "no level"})

    assert response.status_code == 400
    assert response.json()["errors"] == [{"field": "lines[0].level", "reason": "Field required"}]


# --- Documentation ---------------------------------------------------------------------------


def test_it_serves_the_openapi_schema_and_docs(client):
    schema = client.get("/api/openapi.json")

    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {"/api/v1/events", "/api/v1/logs", "/api/v1/alertmanager"} <= set(paths)
    assert "requestBody" in paths["/api/v1/events"]["post"]
    docs = client.get("/api/docs")
    assert docs.status_code == 200
    # Swagger UI comes from ninja's own static files, never a CDN.
    assert b"/static/ninja/" in docs.content
    sources = re.findall(rb'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', docs.content)
    assert sources and all(src.startswith(b"/") for src in sources)  # nothing off-site
