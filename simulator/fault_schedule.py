"""Faults injected into the world and their ground truth: each injection is recorded as a
:class:`~simulator.models.FaultInjection`, marked recovered the moment its root cause is
gone (by the control API, or by hand), and ended when its scenario's time is up."""

from __future__ import annotations

import logging
import threading

from django.db import close_old_connections
from django.utils import timezone

from simulator import scenarios
from simulator.models import FaultInjection
from simulator.world import World

logger = logging.getLogger(__name__)


class FaultSchedule:
    """``watch`` is a loop that runs until ``stopping`` is set."""

    def __init__(self, world: World, stopping: threading.Event) -> None:
        self.world, self.stopping = world, stopping
        self.injections: dict[str, tuple[scenarios.Scenario, int]] = {}
        self._lock = threading.Lock()

    def inject(self, name: str, *, label: str = "") -> FaultInjection:
        """Break the world as the scenario says and record its ground truth."""
        scenario = scenarios.get(name)
        self.world.reset()  # each fault starts from the healthy deployment
        record = FaultInjection.objects.create(
            scenario=scenario.name, title=scenario.title, root_cause=scenario.root_cause,
            service=scenario.service, correct_remediation=scenario.remediation, run_label=label,
        )  # fmt: skip
        scenario.inject(self.world)
        with self._lock:
            self.injections[scenario.name] = (scenario, record.pk)
        logger.warning(
            "fault injected", extra={"scenario": name, "root_cause": scenario.root_cause}
        )
        return record

    def fix_by_hand(self, name: str) -> None:
        """What the on-call engineer does when nobody else fixed it."""
        scenario, pk = self.injections.get(name, (scenarios.get(name), None))
        scenario.human_fix(self.world)
        if pk is not None:
            FaultInjection.objects.filter(pk=pk, recovered_at=None).update(
                recovered_at=timezone.now(), fixed_by="human"
            )

    def end(self, name: str) -> None:
        with self._lock:
            _, pk = self.injections.pop(name, (None, None))
        if pk is not None:
            FaultInjection.objects.filter(pk=pk).update(ended_at=timezone.now())

    def watch(self) -> None:
        """Mark an injection recovered the moment its root cause is gone from the world."""
        while not self.stopping.wait(0.5):
            with self._lock:
                active = list(self.injections.values())
            present = set(self.world.faulty())
            for scenario, pk in active:
                if scenario.healthy or scenario.root_cause in present:
                    continue
                FaultInjection.objects.filter(pk=pk, recovered_at=None).update(
                    recovered_at=timezone.now(), fixed_by="control-api"
                )
            close_old_connections()
