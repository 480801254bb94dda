"""The incident page over HTTP: plain language, actions for operators only, resolve by hand
with a note that lands on the timeline and supersedes the incident's prompt."""

from __future__ import annotations

import pytest

from knowledge.models import IncidentState

pytestmark = pytest.mark.django_db


def test_the_incident_page_reads_in_plain_language(client, viewer_user, open_incident):
    client.force_login(viewer_user)

    html = client.get(f"/incidents/{open_incident.pk}/").content.decode()

    assert "<title>Import timed out after … · Incident" in html
    assert "&lt;*&gt;" not in html
    assert "<strong>Detected</strong> on bookmarks" in html and "90% confident" in html
    assert "Affected users" in html
    assert "Operators can acknowledge" in html and 'id="resolve"' not in html


def test_a_viewer_cannot_resolve(client, viewer_user, open_incident):
    client.force_login(viewer_user)

    response = client.post(f"/incidents/{open_incident.pk}/resolve/", {"note": "x"})

    assert response.status_code == 403
    open_incident.refresh_from_db()
    assert open_incident.state == IncidentState.DIAGNOSED


def test_an_operator_acknowledges_then_resolves_by_hand(client, operator_user, open_incident):
    client.force_login(operator_user)
    url = f"/incidents/{open_incident.pk}/"

    assert client.post(url + "acknowledge/").status_code == 302
    response = client.post(url + "resolve/", {"note": "raised the worker's time limit"})

    assert response.status_code == 302 and response["Location"] == url
    open_incident.refresh_from_db()
    assert open_incident.state == IncidentState.RESOLVED
    assert open_incident.resolution == "raised the worker's time limit"
    html = client.get(url).content.decode()
    assert "Resolved: raised the worker&#x27;s time limit" in html
    assert f"by {operator_user.username}" in html


def test_the_favicon_is_served(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"].endswith("favicon.svg")


def test_the_evidence_reads_as_sentences_and_the_trigger_readably_escaped(
    client, viewer_user, open_incident
):
    from knowledge.models import Diagnosis

    Diagnosis.objects.filter(pk=open_incident.diagnosis_id).update(evidence={
        "message": "Import timed out after <*>", "affected_users": 3,
        "instances": {"web-1": 12, "web-2": 3},
        "trigger": {"error": "<img src=x onerror=alert(1)>", "retryable": False},
    })  # fmt: skip
    client.force_login(viewer_user)

    html = client.get(f"/incidents/{open_incident.pk}/").content.decode()

    assert "<li>Seen on web-1 (12 times) and web-2 (3).</li>" in html
    assert "<li>3 users affected.</li>" in html
    assert "<dt>Retryable</dt><dd>no</dd>" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "<img src=x" not in html
    assert "{&#x27;" not in html and "&#x27;: " not in html  # no pprint left
