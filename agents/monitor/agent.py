"""BookmarkMonitorAgent: minute rollups of the bookmark manager, and anomalies found in them.

A thin shell over :class:`agents.monitor.rollups.Rollups`: ``handle`` adds each batch to the
shared rollups in Redis (and runs the sub-second fast path), ``tick`` (beat, every few
seconds, on any worker) finalises closed minutes into metric series and runs the streaming
detectors.
"""

from __future__ import annotations

from typing import Any, ClassVar

import orjson

from agents.mesh import Delivery
from agents.monitor.rollups import Rollups
from agents.monitor.writer import MONITORED_TYPES
from agents.runtime import BaseAgent, register_agent


@register_agent
class BookmarkMonitorAgent(BaseAgent):
    """Rolls the bookmark manager's events up per minute and raises ``anomaly.detected``."""

    name = "bookmark-monitor"
    kind = "monitor"
    version = "1"
    description = (
        "Per-minute rollups (bookmarks, imports, API/DB/search latency percentiles, errors, "
        "active users) stored as metric series, with streaming anomaly detection on each."
    )
    subscribes: ClassVar[tuple[str, ...]] = MONITORED_TYPES
    tick_seconds = 5.0
    # Per-batch costs (one Redis script, one fast-path check) dominate, so bigger batches are
    # cheaper per event; a quiet stream still hands over whatever is there at once.
    batch_size = 500

    def __init__(self, rollups: Rollups | None = None) -> None:
        super().__init__()
        self.rollups = rollups or Rollups(instance=self.name)

    def handle(self, deliveries: list[Delivery]) -> None:
        # The wire JSON is decoded with orjson, not pydantic: events were validated at the
        # edge, and this is the agent's hot path.
        self.rollups.ingest([orjson.loads(d.raw) for d in deliveries])

    def tick(self) -> None:
        self.rollups.finalise()

    def health(self) -> dict[str, Any]:
        return {"pending_minutes": len(self.rollups.pending_minutes())}
