"""End to end: a Flask app that is not Django breaks, and AI-Ops opens an incident for it.

The Flask shop (``web_apps.flask_app``, instrumented by ``aiops_sdk.flask.instrument``) runs under
Werkzeug's server and reports to the live ingest API; the real monitor and diagnostic
agents read the mesh (``tests.realapp.harness.Operations``, as for the Wagtail site). After
a few seconds of healthy traffic, its price service goes away (nothing listens on its port:
each call is a real ``ConnectionRefusedError``) and a burst of requests fails with 500s.
The monitor must see the error rate jump on the fast path, and the diagnostic agent must
open one incident on the service, for the cause class ``upstream-dependency``, with the
exception grouped as one problem by its type and in-app frames, and the error-rate anomaly
read as its symptom rather than as a second incident: what a Django app gets.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest

from agents.models import Anomaly
from agents.monitor.store import ENDPOINTS_KEY
from core.redis import get_redis
from knowledge.models import Incident
from tests.realapp.harness import Operations
from tests.sdk import web_apps
from tests.sdk.web_events import live_client

pytestmark = pytest.mark.django_db(transaction=True)
SERVICE = "flask-shop"


def traffic(url: str, stop: threading.Event, statuses: list[int]) -> None:
    """A steady trickle of healthy requests, as users would make."""
    with httpx.Client(base_url=url, timeout=10) as http:
        n = 0
        while not stop.is_set():
            n += 1
            statuses.append(http.get(f"/items/{n}").status_code)
            time.sleep(0.05)


def test_a_burst_of_500s_from_a_flask_app_opens_an_incident(live_server: Any) -> None:
    client = live_client(live_server.url, service=SERVICE)
    server = web_apps.serve_wsgi(web_apps.flask_app(client, helper=True))
    ops = Operations()
    stop, statuses = threading.Event(), []
    trickle = threading.Thread(target=traffic, args=(server.url, stop, statuses))
    trickle.start()
    began = time.monotonic()
    try:
        ops.pump(6)  # healthy history first
        assert Incident.objects.filter(service=SERVICE).count() == 0
        with httpx.Client(base_url=server.url, timeout=10) as http:
            failed = [http.get(f"/items/{n}/price").status_code for n in range(40)]
        assert set(failed) == {500}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ops.pump(2)
            error_rate = Anomaly.objects.filter(series__startswith="api.error_rate")
            if error_rate.exists() and Incident.objects.filter(service=SERVICE).exists():
                break
    finally:
        stop.set()
        trickle.join()
        server.stop()
        client.close()
    assert set(statuses) == {200}
    (incident,) = Incident.objects.filter(service=SERVICE)  # the anomaly did not open one
    diagnosis = incident.diagnosis
    assert incident.state != "resolved" and diagnosis.signal == "upstream-dependency"
    # The title is the request's route, never one request's path, and what failed there; the
    # problem names the exception and the in-app function that raised it.
    assert incident.title == (
        "Internal Server Error: GET /items/(id)/price (ConnectionRefusedError: [Errno …] "
        "Connection refused)"
    )
    assert diagnosis.problem.title == (
        "ConnectionRefusedError: [Errno …] Connection refused in tests.sdk.web_apps:fetch_price"
    )
    assert diagnosis.event_count >= 40  # the burst joined one diagnosis, not forty
    anomaly = Anomaly.objects.get(series="api.error_rate", detector="burst")
    assert anomaly.problem_id in diagnosis.evidence["corroborating_problems"]
    # The monitor keeps per-endpoint series by route, as for a Django app: two, not 100+.
    endpoints = {name.decode() for name in get_redis().smembers(ENDPOINTS_KEY)}
    assert endpoints == {"/items/{id}", "/items/{id}/price"}
    assert time.monotonic() - began < 60
