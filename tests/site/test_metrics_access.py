"""/metrics is served to the scrapers an operator allowed: by network, or by bearer token."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_a_scraper_on_an_allowed_network_reads_the_metrics(client):
    response = client.get("/metrics", REMOTE_ADDR="10.2.3.4")

    assert response.status_code == 200
    assert b"ai_ops_" in response.content


def test_a_client_outside_the_allowed_networks_is_refused(client, settings):
    settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8"]

    response = client.get("/metrics", REMOTE_ADDR="203.0.113.9")

    assert response.status_code == 403
    assert b"METRICS_ALLOWED_NETWORKS" in response.content


def test_the_bearer_token_opens_the_metrics_from_anywhere(client, settings):
    settings.METRICS_ALLOWED_NETWORKS = []
    settings.METRICS_BEARER_TOKEN = "scrape-secret"

    wrong = client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer nope")
    right = client.get(
        "/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer scrape-secret"
    )

    assert (wrong.status_code, right.status_code) == (403, 200)
