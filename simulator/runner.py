"""The simulator's process: it composes the world, the control API server, the services'
telemetry, and the loops that drive them, and starts and stops them as one.

:class:`Simulator` owns a :class:`~simulator.world.World` and, one job each,
:class:`~simulator.telemetry.Telemetry` (SDK clients), :class:`~simulator.workload.Workload`
(traffic), :class:`~simulator.import_worker.ImportWorker` (imports),
:class:`~simulator.vitals.Vitals` (registration, heartbeats, gauges) and
:class:`~simulator.fault_schedule.FaultSchedule` (injected faults and their ground truth).
``manage.py simulate`` runs one until Ctrl-C; ``manage.py scorecard`` drives one in-process
and injects scenarios.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection

from simulator.control import ControlAPI, ControlServer
from simulator.fault_schedule import FaultSchedule
from simulator.import_worker import ImportWorker
from simulator.models import FaultInjection
from simulator.telemetry import Telemetry
from simulator.vitals import Vitals
from simulator.workload import SimulatedClock, Workload
from simulator.world import World

logger = logging.getLogger(__name__)


@dataclass
class SimulatorConfig:
    url: str | None = None  # AI-Ops Core's ingest API (and service registry)
    token: str | None = None
    redis_direct: bool = False  # publish straight to the mesh instead of over HTTP
    rate: float = 20.0  # requests per second at the daily peak
    imports_per_minute: float = 6.0
    control_host: str = "127.0.0.1"
    control_port: int = 0
    time_scale: float = 1.0  # simulated seconds per real second, for the seasonality
    seed: int | None = None


class Simulator:
    def __init__(self, config: SimulatorConfig, world: World | None = None) -> None:
        self.config = config
        self.world = world or World(config.seed)
        rng = random.Random(config.seed)  # noqa: S311  (a workload, not a secret)
        clock = SimulatedClock(time.time(), config.time_scale)
        self.stopping = threading.Event()
        self.telemetry = Telemetry(config.url, config.token, redis_direct=config.redis_direct)
        self.imports = ImportWorker(self.world, self.telemetry, clock, rng, self.stopping,
                                    imports_per_minute=config.imports_per_minute)  # fmt: skip
        self.api = ControlAPI(self.world, retry_imports=self.imports.retry)
        self.control = ControlServer(self.api, config.control_host, config.control_port)
        self.workload = Workload(self.world, self.telemetry, clock, rng, self.stopping,
                                 rate=config.rate)  # fmt: skip
        # Without the HTTP API (``--redis``) the registry is written through the ORM.
        direct = not (config.url and config.token)
        self.vitals = Vitals(self.world, self.telemetry, self.control, self.stopping,
                             direct=direct)  # fmt: skip
        self.faults = FaultSchedule(self.world, self.stopping)
        self.web = self.workload.web
        self.threads: list[threading.Thread] = []
        self._stopped = False

    def start(self) -> Simulator:
        self.control.start()
        self.vitals.register()
        loops = {
            "simulator_traffic": self.workload.traffic,
            "simulator_search_surge": self.workload.search_surge,
            "simulator_imports": self.imports.arrivals,
            "simulator_gauges": self.vitals.report,
            "simulator_watch_faults": self.faults.watch,
        }
        for name, loop in loops.items():
            thread = threading.Thread(
                target=_closing_connection, args=(loop,), name=name, daemon=True
            )
            thread.start()
            self.threads.append(thread)
        logger.info("simulator started", extra={"control": self.control.root_url})
        return self

    def stop(self) -> None:
        """Stop traffic, let requests in flight report, close the clients (once)."""
        if self._stopped:
            return
        self._stopped = True
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=5)
        # Requests in flight finish (and report) before their clients close.
        self.workload.close()
        self.control.stop()
        self.telemetry.close()

    def flush(self, timeout: float = 10.0) -> bool:
        return self.telemetry.flush(timeout)

    # --- Scenarios, as the scorecard, the demo and ``simulate --scenario`` drive them ------

    def inject(self, name: str, *, label: str = "") -> FaultInjection:
        return self.faults.inject(name, label=label)

    def fix_by_hand(self, name: str) -> None:
        self.faults.fix_by_hand(name)

    def end(self, name: str) -> None:
        self.faults.end(name)


def _closing_connection(loop: Callable[[], None]) -> None:
    """Run a loop thread; its database connection closes with it (a test database, or a
    PostgreSQL restart, must not find it lingering)."""
    try:
        loop()
    finally:
        connection.close()
