"""The incident admin is read-only: the cause key is shown, never edited (a hand-edited key
could make a twin of an open incident or hide one from the constraint)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.incidents.conftest import open_incident

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_change_form_shows_the_cause_read_only(admin_client):
    incident = open_incident()

    page = admin_client.get(reverse("admin:knowledge_incident_change", args=[incident.pk]))

    assert page.status_code == 200
    html = page.content.decode()
    # The dedup key said as what it means, not as the key.
    assert "the signal high_memory_usage" in html and "signal:high_memory_usage" not in html
    assert 'name="cause"' not in html
