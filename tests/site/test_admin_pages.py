"""Admin changelists of the agents' and the diagnoses' models render for a superuser."""

from __future__ import annotations

import pytest

from agents.runtime import sync_agent_rows

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url",
    [
        "/admin/agents/agent/",
        "/admin/agents/anomaly/",
        "/admin/agents/metricseries/",
        "/admin/knowledge/diagnosis/",
        "/admin/knowledge/recommendation/",
    ],
)
def test_changelists_render(client, admin_user, url):
    sync_agent_rows()
    client.force_login(admin_user)

    response = client.get(url)

    assert response.status_code == 200


def test_agents_can_be_switched_off_from_the_changelist(client, admin_user):
    from agents.models import Agent

    sync_agent_rows()
    client.force_login(admin_user)
    agent = Agent.objects.get(name="bookmark-monitor")
    changelist = client.get("/admin/agents/agent/")
    assert b"bookmark-monitor" in changelist.content

    response = client.get(f"/admin/agents/agent/{agent.pk}/change/")

    assert response.status_code == 200
    assert b"enabled" in response.content
