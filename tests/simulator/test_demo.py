"""The demo cycle ``make run`` plays (simulator/demo.py), on a fake clock: warm-up, one fault
at a time from DEMO_CYCLE, ended when it recovers or fixed by hand after the timeout, then
a healthy gap."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.utils import timezone

from simulator import scenarios
from simulator.demo import DemoSchedule
from simulator.models import FaultInjection
from simulator.runner import Simulator


class Clock:
    def __init__(self) -> None:
        self.times = [0.0]

    def __call__(self) -> float:
        return self.times[-1]

    def at(self, seconds: float) -> None:
        self.times.append(seconds)


@pytest.mark.django_db
def test_the_demo_injects_waits_for_recovery_and_falls_back_to_a_human(
    simulators: Callable[..., Simulator],
) -> None:
    sim = simulators(seed=6)  # not started: the schedule only injects, ends and fixes
    clock, logs = Clock(), []
    demo = DemoSchedule(sim, fault_timeout=100, warmup=60, gap=45, log=logs.append, clock=clock)
    first, second = scenarios.DEMO_CYCLE[:2]

    clock.at(59.9)
    demo.step()
    assert not FaultInjection.objects.exists() and demo.current is None

    clock.at(60)
    demo.step()
    record = FaultInjection.objects.get()
    assert (record.scenario, record.run_label) == (first, "demo")
    assert sim.world.faulty() == [scenarios.get(first).root_cause]
    assert logs[-1] == f"Demo: injected {first} ({record.root_cause})."

    clock.at(150)  # still broken, within the timeout: nothing happens
    demo.step()
    assert demo.current is not None and demo.current[0] == first
    assert FaultInjection.objects.get().ended_at is None

    # The agents fixed it (what the simulator's watcher records when the root cause is gone).
    FaultInjection.objects.filter(pk=record.pk).update(
        recovered_at=timezone.now(), fixed_by="control-api"
    )
    clock.at(155)
    demo.step()
    record.refresh_from_db()
    assert record.ended_at is not None and record.fixed_by == "control-api"
    assert demo.current is None
    assert logs[-1] == f"Demo: {first} recovered after 95s."

    clock.at(199.9)  # the healthy gap
    demo.step()
    assert FaultInjection.objects.count() == 1

    clock.at(200)
    demo.step()
    nxt = FaultInjection.objects.get(scenario=second)
    assert nxt.root_cause in sim.world.faulty()

    clock.at(299.9)
    demo.step()
    nxt.refresh_from_db()
    assert nxt.recovered_at is None

    clock.at(300)  # nobody fixed it in 100 s: on-call does
    demo.step()
    nxt.refresh_from_db()
    assert nxt.fixed_by == "human" and nxt.recovered_at and nxt.ended_at
    assert nxt.root_cause not in sim.world.faulty()
    assert logs[-1] == f"Demo: {second} not fixed in 100s; on-call fixed it."
    assert demo.current is None and demo.next_at == 345


@pytest.mark.django_db
def test_the_demo_cycles_through_every_demo_fault_in_order(
    simulators: Callable[..., Simulator],
) -> None:
    sim = simulators(seed=7)
    clock = Clock()
    demo = DemoSchedule(sim, fault_timeout=10, warmup=0, gap=1, log=lambda _: None, clock=clock)
    t = 0.0
    for _ in range(len(scenarios.DEMO_CYCLE) + 1):
        demo.step()  # inject
        t += 10
        clock.at(t)
        demo.step()  # timed out: fixed by hand, ended
        assert sim.world.faulty() == []
        t += 1
        clock.at(t)
    injected = list(
        FaultInjection.objects.order_by("started_at", "pk").values_list("scenario", flat=True)
    )
    assert injected == [*scenarios.DEMO_CYCLE, scenarios.DEMO_CYCLE[0]]
    assert set(FaultInjection.objects.values_list("fixed_by", flat=True)) == {"human"}
