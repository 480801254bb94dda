"""The relay agent: status events become coalesced repaints; heartbeats give events/s."""

from __future__ import annotations

import time

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from agents.events import system_event
from agents.mesh import Delivery
from agents.system_events import SYSTEM_PAYLOADS
from dashboard import live
from dashboard.live import DASHBOARD_GROUP, Coalescer
from dashboard.panels import agent_rates
from dashboard.relay import DashboardRelay

pytestmark = pytest.mark.django_db(transaction=True)


def _delivery(event_type: str, payload: dict) -> Delivery:
    event = system_event(event_type, SYSTEM_PAYLOADS[event_type](**payload))
    return Delivery(f"events:{event_type}", "1-0", event.id, event.to_json_bytes())


def test_many_events_become_one_push_per_panel(monkeypatch):
    pushed: list[list[str]] = []
    monkeypatch.setattr(live, "push_panels", lambda names: pushed.append(list(names)))
    coalescer = Coalescer(interval=60)  # no background flush during the test

    for _ in range(1000):
        coalescer.mark(["agents"])
    coalescer.mark(["problems", "agents"])
    coalescer.flush()
    coalescer.flush()
    coalescer.stop()

    assert pushed == [["agents", "problems"]]


def test_periodic_panels_are_pushed_when_due(monkeypatch):
    pushed: list[list[str]] = []
    monkeypatch.setattr(live, "push_panels", lambda names: pushed.append(list(names)))
    coalescer = Coalescer(interval=60, periodic={"rates": 0.05})

    coalescer.flush()
    coalescer.flush()
    time.sleep(0.06)
    coalescer.flush()
    coalescer.stop()

    assert pushed == [["rates"], ["rates"]]


def test_the_relay_pushes_the_agents_panel_after_a_status_event(monitor_agent):
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(DASHBOARD_GROUP, channel)
    relay = DashboardRelay()
    relay.coalescer.periodic = {}

    relay.handle([_delivery("agent.status", {"agent": "monitor", "status": "running"})])
    message = async_to_sync(layer.receive)(channel)
    relay.coalescer.stop()

    assert message["type"] == "dashboard.html"
    assert 'id="panel-agents"' in message["html"]


def test_heartbeats_give_each_agent_its_events_per_second(settings):
    settings.AGENT_HEARTBEAT_SECONDS = 5
    relay = DashboardRelay()
    relay.coalescer.mark = lambda names: None  # type: ignore[method-assign]

    relay.handle(
        [
            _delivery(
                "agent.heartbeat",
                {"agent": "monitor", "consumer": "w1", "status": "running", "processed": 50},
            ),
            _delivery(
                "agent.heartbeat",
                {"agent": "monitor", "consumer": "w2", "status": "running", "processed": 25},
            ),
        ]
    )

    assert agent_rates() == {"monitor": 15.0}
