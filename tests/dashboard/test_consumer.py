"""The live-status WebSocket: login required, every panel on connect, pushes fanned out."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from agents.models import Agent, AgentStatus
from aiops_site.routing import websocket_urlpatterns
from dashboard.live import push_panels

pytestmark = pytest.mark.django_db(transaction=True)

APP = AuthMiddlewareStack(URLRouter(websocket_urlpatterns))


def _communicator(user) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(APP, "/ws/status/")
    communicator.scope["user"] = user
    return communicator


def mark_down(pk: int) -> None:
    Agent.objects.filter(pk=pk).update(status=AgentStatus.DOWN)


def test_anonymous_connections_are_refused():
    async def scenario():
        communicator = _communicator(AnonymousUser())
        connected, code = await communicator.connect()
        return connected, code

    connected, code = async_to_sync(scenario)()

    assert not connected
    assert code == 4401


def test_a_screen_gets_every_panel_on_connect(viewer_user, monitor_agent):
    async def scenario():
        communicator = _communicator(viewer_user)
        connected, _ = await communicator.connect()
        first = await communicator.receive_from(timeout=5)
        await communicator.disconnect()
        return connected, first

    connected, first = async_to_sync(scenario)()

    assert connected
    assert 'id="panel-agents"' in first and 'id="panel-services"' in first
    assert "monitor" in first


def test_a_pushed_update_reaches_every_connected_screen(viewer_user, operator_user, monitor_agent):
    async def scenario():
        screens = [_communicator(viewer_user), _communicator(operator_user)]
        for screen in screens:
            assert (await screen.connect())[0]
            await screen.receive_from(timeout=5)  # the snapshot
        await database_sync_to_async(mark_down)(monitor_agent.pk)
        await database_sync_to_async(push_panels)(["agents"])
        received = [await screen.receive_from(timeout=5) for screen in screens]
        for screen in screens:
            await screen.disconnect()
        return received

    received = async_to_sync(scenario)()

    for html in received:
        assert html.lstrip().startswith('<section class="panel wide" id="panel-agents"')
        assert 'data-status="down"' in html


def test_role_panels_go_to_each_role_with_its_own_markup(viewer_user, operator_user):
    async def scenario():
        viewer_screen, operator_screen = _communicator(viewer_user), _communicator(operator_user)
        for screen in (viewer_screen, operator_screen):
            await screen.connect()
            await screen.receive_from(timeout=5)
        await database_sync_to_async(push_panels)(["approvals"])
        got = await viewer_screen.receive_from(timeout=5), await operator_screen.receive_from(5)
        assert await viewer_screen.receive_nothing(timeout=0.3)  # once each, not twice
        await viewer_screen.disconnect()
        await operator_screen.disconnect()
        return got

    viewer_html, operator_html = async_to_sync(scenario)()

    assert 'id="panel-approvals"' in viewer_html and 'id="panel-approvals"' in operator_html
