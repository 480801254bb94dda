"""/health: 200 when every part answers, 503 naming the part that does not."""

from __future__ import annotations

import time

import pytest

import core.redis as redis_client
from agents.heartbeats import record_heartbeat

pytestmark = pytest.mark.django_db


def test_it_reports_healthy_database_and_redis(client):
    response = client.get("/health")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["redis"]["ok"] is True
    assert body["failing"] == []


def test_it_needs_no_login(client):
    assert client.get("/health").status_code == 200


def test_it_lists_fresh_heartbeats_as_ok(client):
    record_heartbeat("monitor-agent")

    body = client.get("/health").json()

    assert body["checks"]["heartbeat:monitor-agent"]["ok"] is True
    assert body["checks"]["heartbeat:monitor-agent"]["age_seconds"] < 5


def test_it_names_a_stale_heartbeat_with_503(client, settings):
    settings.HEARTBEAT_STALE_SECONDS = 30
    record_heartbeat("celery-worker@box", at=time.time() - 120)

    response = client.get("/health")

    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["heartbeat:celery-worker@box"]
    assert "no heartbeat for 120s" in body["checks"]["heartbeat:celery-worker@box"]["error"]


def test_it_names_redis_when_redis_is_unreachable(client, settings, monkeypatch):
    # A port nobody listens on: the real client fails to connect, as in an outage.
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    monkeypatch.setattr(redis_client, "_client", None)

    response = client.get("/health")

    assert response.status_code == 503
    assert response.json()["failing"] == ["redis"]
    assert response.json()["checks"]["database"]["ok"] is True
    monkeypatch.setattr(redis_client, "_client", None)


def test_it_is_never_cached(client):
    assert "no-cache" in client.get("/health")["Cache-Control"]


def test_it_ignores_heartbeats_from_before_the_current_start(client, settings):
    from agents.heartbeats import mark_started

    settings.HEARTBEAT_STALE_SECONDS = 30
    record_heartbeat("old-worker", at=time.time() - 600)  # the previous run's, long silent
    mark_started()
    record_heartbeat("new-worker")

    response = client.get("/health")

    assert response.status_code == 200
    checks = response.json()["checks"]
    assert "heartbeat:old-worker" not in checks and checks["heartbeat:new-worker"]["ok"]
