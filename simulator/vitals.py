"""The services' presence in AI-Ops Core's service registry and their vital signs: each
registers once with its control URL, heartbeats, and exports gauges (memory, DB pool,
replicas) while the world's leaks grow with time."""

from __future__ import annotations

import threading
import time

from django.db import close_old_connections

from agents.service_registry import record_instance_heartbeat, register_instance
from simulator.control import ControlServer
from simulator.deployment import SERVICES, instance_of
from simulator.telemetry import Telemetry
from simulator.world import World

VERSION = "2026.11.3"
GAUGE_INTERVAL_S = 5.0
HEARTBEAT_INTERVAL_S = 10.0


class Vitals:
    """``report`` is a loop that runs until ``stopping`` is set. With ``direct`` (no HTTP
    API, ``--redis``) registration and heartbeats go through the ORM; otherwise the SDK
    clients register and heartbeat on their own."""

    def __init__(
        self,
        world: World,
        telemetry: Telemetry,
        control: ControlServer,
        stopping: threading.Event,
        *,
        direct: bool,
    ) -> None:
        self.world, self.telemetry, self.control = world, telemetry, control
        self.stopping, self.direct = stopping, direct

    def register(self) -> None:
        for service, client in self.telemetry.clients.items():
            registration = {"version": VERSION, "control_url": self.control.control_url(service),
                            "tags": {"simulated": True}}  # fmt: skip
            if self.direct:
                register_instance(service, instance_of(service), **registration)
            else:
                client.register(heartbeat_interval=HEARTBEAT_INTERVAL_S, **registration)

    def _beat_directly(self) -> None:
        for service in SERVICES:
            record_instance_heartbeat(service, instance_of(service))
        close_old_connections()

    def report(self) -> None:
        next_gauges = next_beat = time.time()
        while not self.stopping.wait(1.0):
            now = time.time()
            self.world.advance(now)
            for service, event_type, payload in self.world.take_changes():
                self.telemetry.emit(service, event_type, payload)
            if self.direct and now >= next_beat:
                next_beat = now + HEARTBEAT_INTERVAL_S
                self._beat_directly()
            if now < next_gauges:
                continue
            next_gauges = now + GAUGE_INTERVAL_S
            for service, name, value, labels in self.world.gauges():
                self.telemetry.emit(
                    service, "metric.sample", {"name": name, "value": value, "labels": labels}
                )
            warning = self.world.memory_warning(now)
            if warning is not None:
                for service, _signal, text in warning.errors:
                    self.telemetry.log_error(service, text)
