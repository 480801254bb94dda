"""The fault cycle ``make run`` plays so a fresh install shows the whole loop on its own:
healthy traffic first, then one fault at a time from :data:`scenarios.DEMO_CYCLE`, each
left to the agents until it recovers or ``fault_timeout`` passes (then on-call fixes it by
hand, as it would if nobody approved a risky remediation), then a healthy gap."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

from simulator import scenarios
from simulator.models import FaultInjection
from simulator.runner import Simulator

WARMUP_SECONDS = 60.0
GAP_SECONDS = 45.0


class DemoSchedule:
    def __init__(
        self,
        simulator: Simulator,
        *,
        fault_timeout: float = 180.0,
        warmup: float = WARMUP_SECONDS,
        gap: float = GAP_SECONDS,
        log: Callable[[str], object] = print,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.simulator = simulator
        self.fault_timeout = fault_timeout
        self.gap = gap
        self.log = log
        self.clock = clock
        self.cycle = itertools.cycle(scenarios.DEMO_CYCLE)
        self.current: tuple[str, int, float] | None = None  # scenario, injection pk, since
        self.next_at = clock() + warmup

    def step(self) -> None:
        now = self.clock()
        if self.current is None:
            if now >= self.next_at:
                name = next(self.cycle)
                record = self.simulator.inject(name, label="demo")
                self.current = (name, record.pk, now)
                self.log(f"Demo: injected {name} ({record.root_cause}).")
            return
        name, pk, since = self.current
        recovered = FaultInjection.objects.filter(pk=pk).exclude(recovered_at=None).exists()
        if not recovered and now - since < self.fault_timeout:
            return
        if not recovered:
            self.simulator.fix_by_hand(name)
            self.log(f"Demo: {name} not fixed in {self.fault_timeout:.0f}s; on-call fixed it.")
        else:
            self.log(f"Demo: {name} recovered after {now - since:.0f}s.")
        self.simulator.end(name)
        self.current = None
        self.next_at = now + self.gap
