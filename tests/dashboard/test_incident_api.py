"""GET /api/v1/incidents and /api/v1/incidents/{id}: filters, the detail with its timeline,
hypotheses and runs, who may read, and the OpenAPI schema."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from agents.ingest import tokens
from agents.models import ApiToken
from knowledge import services
from knowledge.models import Diagnosis, Incident, IncidentState

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_token_cache():
    tokens.clear_token_cache()
    yield
    tokens.clear_token_cache()


@pytest.fixture
def auth() -> dict[str, str]:
    token = ApiToken.issue("on-call script", "ops", scopes=["incidents"])[1]
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def three(open_incident, pending_run) -> list[Incident]:
    """Open on bookmarks (now), one for the pending run (no service), and one resolved on
    search, opened two hours ago."""
    run_incident = services.incident_for(pending_run.diagnosis)
    diagnosis = Diagnosis.objects.create(
        problem=open_incident.diagnosis.problem, service="search", trigger_event_id="t-old",
        trigger_type="import.failed", root_cause="Index full", confidence=0.7,
    )  # fmt: skip
    old = services.open_incident(diagnosis, detected_at=timezone.now() - timedelta(hours=2))
    assert services.resolve(old, note="freed disk space")
    return [open_incident, run_incident, old]


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["items"]]


def test_it_lists_newest_first_with_a_count(client, auth, three):
    response = client.get("/api/v1/incidents", headers=auth)

    assert ids(response) == [three[1].pk, three[0].pk, three[2].pk]
    assert response.json()["count"] == 3
    first = response.json()["items"][2]
    assert first["url"] == f"/incidents/{three[2].pk}/"
    assert first["resolution"] == "freed disk space"


def test_it_filters_by_state_service_and_since(client, auth, three):
    get = lambda query: ids(client.get(f"/api/v1/incidents?{query}", headers=auth))  # noqa: E731

    assert get("state=resolved") == [three[2].pk]
    assert get("state=diagnosed") == [three[1].pk, three[0].pk]
    assert get("service=search") == [three[2].pk]
    since = (timezone.now() - timedelta(hours=1)).isoformat().replace("+", "%2B")
    assert get(f"since={since}") == [three[1].pk, three[0].pk]
    assert get("service=search&state=diagnosed") == []


def test_it_pages_with_limit_and_offset(client, auth, three):
    response = client.get("/api/v1/incidents?limit=1&offset=1", headers=auth)

    assert ids(response) == [three[0].pk] and response.json()["count"] == 3


def test_an_unknown_state_or_a_huge_limit_is_a_400(client, auth, three):
    response = client.get("/api/v1/incidents?state=on-fire", headers=auth)

    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "state"
    assert client.get("/api/v1/incidents?limit=501", headers=auth).status_code == 400


def test_the_detail_has_timeline_hypotheses_and_runs(client, auth, pending_run):
    diagnosis = pending_run.diagnosis
    diagnosis.hypotheses = [
        {"cause": "Upstream timeout", "kind": "known-problem", "score": 0.9, "problem": 1}
    ]
    diagnosis.save(update_fields=["hypotheses"])
    incident = services.incident_for(diagnosis)
    services.record_step(diagnosis, "Proposed restart_service", run_id=pending_run.pk)

    response = client.get(f"/api/v1/incidents/{incident.pk}", headers=auth)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["state"] == IncidentState.DIAGNOSED and body["confidence"] == 0.9
    assert [e["kind"] for e in body["timeline"]] == ["detected", "state", "remediation"]
    assert body["timeline"][1]["to_state"] == "diagnosed"
    assert body["timeline"][2]["run"] == pending_run.pk
    assert body["hypotheses"][0]["sentence"].startswith("It looks like a known problem")
    assert body["runs"] == [
        {
            "id": pending_run.pk, "action": "restart_service", "status": "awaiting_approval",
            "risk": "high", "confidence": 0.9, "reason": "",
            "created_at": body["runs"][0]["created_at"], "finished_at": None,
        }
    ]  # fmt: skip


def test_an_unknown_incident_is_a_404(client, auth):
    assert client.get("/api/v1/incidents/999999", headers=auth).status_code == 404


def test_without_auth_it_is_a_401(client, open_incident):
    assert client.get("/api/v1/incidents").status_code == 401
    assert client.get(f"/api/v1/incidents/{open_incident.pk}").status_code == 401


def test_a_token_without_the_scope_is_refused(client, open_incident):
    token = ApiToken.issue("pods", "bookmarks", scopes=["events"])[1]

    response = client.get("/api/v1/incidents", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 403


def test_staff_may_read_with_their_session(client, admin_user, three):
    client.force_login(admin_user)

    assert len(ids(client.get("/api/v1/incidents"))) == 3


def test_the_schema_lists_both_paths(client):
    paths = client.get("/api/openapi.json").json()["paths"]

    assert "get" in paths["/api/v1/incidents"]
    detail = paths["/api/v1/incidents/{incident_id}"]["get"]
    schema = detail["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("/IncidentDetailOut")
