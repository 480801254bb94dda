"""Agents used by the runtime tests (loaded by workers through AGENT_MODULES)."""

from __future__ import annotations

import time

from agents.mesh import Delivery
from agents.runtime import BaseAgent, register_agent
from tests.agents.mesh_handlers import record_effects


@register_agent
class RecorderAgent(BaseAgent):
    """Stores one effect row per event (idempotent by event id)."""

    name = "recorder"
    kind = "test"
    subscribes = ("custom.work",)

    def handle(self, deliveries: list[Delivery]) -> None:
        record_effects(deliveries)


@register_agent
class StallingAgent(BaseAgent):
    """Hangs on an event asking it to, like a handler stuck on a dead socket."""

    name = "staller"
    kind = "test"
    subscribes = ("custom.stall",)

    def handle(self, deliveries: list[Delivery]) -> None:
        if any(d.event.payload.get("stall") for d in deliveries):
            time.sleep(3600)
