"""The dashboard-relay agent: turns status events into coalesced panel repaints."""

from __future__ import annotations

from typing import ClassVar

from agents.mesh import Delivery
from agents.runtime import BaseAgent, register_agent
from agents.system_events import INCIDENT_CHANGES, REMEDIATION_STATUSES, AgentHeartbeat
from dashboard.live import INCIDENT_PREFIX, Coalescer
from dashboard.panels import record_agent_rates

# Streams are per exact type, so each type the dashboard reacts to is named here.
PANELS_BY_TYPE: dict[str, tuple[str, ...]] = {
    "agent.heartbeat": ("agents",),
    "agent.status": ("agents",),
    "agent.down": ("agents",),
    "problem.created": ("knowledge",),
    "problem.updated": ("knowledge",),
    "diagnosis.ready": ("incidents",),
    **{
        f"remediation.{status}": ("approvals", "runs", "incidents")
        for status in REMEDIATION_STATUSES
    },
    # Each also repaints the incident's own page where it is open (``incident:<pk>``).
    **{f"incident.{change}": ("incidents",) for change in INCIDENT_CHANGES},
}
# Panels without events of their own are repainted on a timer (seconds).
PERIODIC_PANELS = {"rates": 2.0, "services": 5.0}
PUSH_INTERVAL_SECONDS = 0.25


@register_agent
class DashboardRelay(BaseAgent):
    name = "dashboard-relay"
    kind = "relay"
    description = "Repaints the operator dashboard's panels from status events (coalesced)."
    subscribes: ClassVar[tuple[str, ...]] = tuple(PANELS_BY_TYPE)

    def __init__(self) -> None:
        super().__init__()
        self.coalescer = Coalescer(PUSH_INTERVAL_SECONDS, periodic=PERIODIC_PANELS)

    def handle(self, deliveries: list[Delivery]) -> None:
        dirty: set[str] = set()
        beats: list[tuple[str, str, int]] = []
        for delivery in deliveries:
            event = delivery.event
            dirty.update(PANELS_BY_TYPE.get(event.type, ()))
            if event.type.startswith("incident."):
                dirty.add(f"{INCIDENT_PREFIX}{event.payload['incident']}")
            if event.type == "agent.heartbeat":
                beat = AgentHeartbeat.model_validate(event.payload)
                beats.append((beat.agent, beat.consumer, beat.processed))
        record_agent_rates(beats)
        self.coalescer.mark(dirty)
