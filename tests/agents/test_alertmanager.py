"""POST /api/v1/alertmanager: Alertmanager's webhook (version 4) → one event per alert."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime

import pytest

from agents.events import Event
from agents.mesh import EVENT_FIELD
from agents.models import ApiToken

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_token_cache")]

# Written from the documented format (prometheus.io/docs/alerting/latest/configuration/
# #webhook_config), as Alertmanager 0.27 sends it: a group with one alert still firing
# (endsAt is Go's zero time) and one that resolved.
WEBHOOK = {
    "receiver": "aiops",
    "status": "firing",
    "alerts": [
        {
            "status": "firing",
            "labels": {
                "alertname": "ImportFailureRate",
                "instance": "importer-7d9f:9100",
                "job": "importer",
                "service": "bookmarks-importer",
                "severity": "critical",
            },
            "annotations": {
                "summary": "Import failure rate above 20%",
                "description": "34% of imports failed in the last 5 minutes.",
                "runbook_url": "https://runbooks.example.com/imports",
            },
            "startsAt": "2026-01-31T11:58:30.123Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph?g0.expr=import_failure_ratio+%3E+0.2",
            "fingerprint": "c4a1f2e3d4b5a697",
        },
        {
            "status": "resolved",
            "labels": {
                "alertname": "HighLatency",
                "instance": "web-1:8000",
                "job": "bookmarks-web",
                "severity": "page",
            },
            "annotations": {"summary": "p99 latency above 1s"},
            "startsAt": "2026-01-31T11:40:00Z",
            "endsAt": "2026-01-31T11:59:00Z",
            "generatorURL": "http://prometheus:9090/graph?g0.expr=p99+%3E+1",
            "fingerprint": "0f1e2d3c4b5a6978",
        },
    ],
    "groupLabels": {"alertname": "ImportFailureRate"},
    "commonLabels": {},
    "commonAnnotations": {},
    "externalURL": "http://alertmanager:9093",
    "version": "4",
    "groupKey": '{}:{alertname="ImportFailureRate"}',
    "truncatedAlerts": 0,
}


@pytest.fixture
def post(client):
    _, token = ApiToken.issue("alertmanager", "prometheus", scopes=["alertmanager"])

    def send(body):
        return client.post(
            "/api/v1/alertmanager",
            json.dumps(body),
            content_type="application/json",
            headers={"Authorization": f"Bearer {token}"},
        )

    return send


def only_event(redis, stream: str) -> Event:
    [(_, fields)] = redis.xrange(stream)
    return Event.from_json(fields[EVENT_FIELD.encode()])


def test_it_publishes_one_event_per_alert(post, clean_redis):
    response = post(WEBHOOK)

    assert response.status_code == 202
    assert response.json()["accepted"] == 2
    assert clean_redis.xlen("events:alert.firing") == 1
    assert clean_redis.xlen("events:alert.resolved") == 1


def test_a_firing_alert_keeps_its_labels_and_annotations(post, clean_redis):
    post(WEBHOOK)

    event = only_event(clean_redis, "events:alert.firing")
    assert event.source == "bookmarks-importer"  # the service label
    assert event.instance == "importer-7d9f:9100"
    assert event.severity == "critical"
    assert event.timestamp == datetime(2026, 1, 31, 11, 58, 30, 123000, tzinfo=UTC)
    assert event.correlation_id == "c4a1f2e3d4b5a697"
    payload = event.payload
    assert payload["alertname"] == "ImportFailureRate"
    assert payload["status"] == "firing"
    assert payload["labels"] == WEBHOOK["alerts"][0]["labels"]
    assert payload["annotations"] == WEBHOOK["alerts"][0]["annotations"]
    assert payload["ends_at"] is None  # Go's zero time means "still firing"
    assert payload["fingerprint"] == "c4a1f2e3d4b5a697"
    assert payload["generator_url"].startswith("http://prometheus:9090/graph")
    assert payload["receiver"] == "aiops"


def test_a_resolved_alert_is_timed_by_its_end(post, clean_redis):
    post(WEBHOOK)

    event = only_event(clean_redis, "events:alert.resolved")
    assert event.source == "bookmarks-web"  # no service label: the job label
    assert event.timestamp == datetime(2026, 1, 31, 11, 59, tzinfo=UTC)
    assert event.payload["ends_at"] == "2026-01-31T11:59:00+00:00"
    assert event.payload["annotations"] == {"summary": "p99 latency above 1s"}
    # "page" is not a known severity: a resolved alert is info.
    assert event.severity == "info"


def test_it_falls_back_to_the_tokens_service_without_service_or_job(post, clean_redis):
    body = copy.deepcopy(WEBHOOK)
    body["alerts"] = [body["alerts"][0]]
    del body["alerts"][0]["labels"]["service"]
    del body["alerts"][0]["labels"]["job"]

    post(body)

    assert only_event(clean_redis, "events:alert.firing").source == "prometheus"


def test_a_repeated_notification_carries_the_same_event_ids(post):
    first = post(WEBHOOK).json()["ids"]
    again = post(WEBHOOK).json()["ids"]

    assert first == again


def test_it_refuses_another_version_with_400(post, clean_redis):
    response = post({**WEBHOOK, "version": "3"})

    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["field"] == "version"
    assert "'4'" in error["reason"]
    assert list(clean_redis.scan_iter("events:*")) == []


def test_it_names_the_alert_with_a_bad_field(post, clean_redis):
    body = copy.deepcopy(WEBHOOK)
    body["alerts"][1]["status"] = "pending"
    body["alerts"][0]["labels"]["severity"] = 3

    response = post(body)

    assert response.status_code == 400
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"alerts[1].status", "alerts[0].labels.severity"}
    assert list(clean_redis.scan_iter("events:*")) == []


def test_it_refuses_a_body_without_alerts(post):
    response = post({k: v for k, v in WEBHOOK.items() if k != "alerts"})

    assert response.status_code == 400
    assert response.json()["errors"] == [{"field": "alerts", "reason": "Field required"}]
