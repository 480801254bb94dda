"""Fixtures of the simulator's tests: a started control API on a free port, simulators that
are always stopped (and leave ``settings.AIOPS`` as they found it), and helpers that read
the event mesh and poll with deadlines instead of sleeping."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from django.conf import settings

from agents import mesh
from agents.events import Event
from aiops_sdk.django import reset_client
from simulator.control import ControlAPI, ControlServer
from simulator.deployment import ImportJob
from simulator.runner import Simulator, SimulatorConfig
from simulator.world import World

T = TypeVar("T")


def wait_for(check: Callable[[], T], timeout: float, what: str = "the condition") -> T:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} did not happen within {timeout:.0f} s")
        time.sleep(0.1)


def events(event_type: str) -> list[Event]:
    """Every event of a type on the mesh (this test's Redis database), oldest first."""
    return [delivery.event for delivery in mesh.replay(event_type)]


def stop_simulator(sim: Simulator) -> None:
    sim.stop()  # idempotent, and fine for a simulator that was never started


@pytest.fixture
def restore_aiops_settings() -> Iterator[None]:
    """Simulator() writes settings.AIOPS for its middleware; put back what was there."""
    missing = object()
    previous = getattr(settings, "AIOPS", missing)
    yield
    # Simulator.stop() does not wait for requests in flight (reported): they still go
    # through the middleware, whose client comes from settings.AIOPS. Let them finish first.
    wait_for(
        lambda: not [t for t in threading.enumerate() if t.name.startswith("simulator-request")],
        10,
        "the simulator's requests in flight to finish",
    )
    if previous is missing:
        if hasattr(settings, "AIOPS"):
            del settings.AIOPS
    else:
        settings.AIOPS = previous
    reset_client()


@pytest.fixture
def simulators(restore_aiops_settings: None) -> Iterator[Callable[..., Simulator]]:
    """``simulators(seed=1, rate=30)``: a direct-to-Redis Simulator, stopped at teardown."""
    made: list[Simulator] = []

    def make(**config: Any) -> Simulator:
        sim = Simulator(SimulatorConfig(redis_direct=True, **config))
        made.append(sim)
        return sim

    yield make
    for sim in made:
        stop_simulator(sim)


class Retries:
    """The import worker's retry queue, as the control API hands jobs to it."""

    def __init__(self) -> None:
        self.jobs: list[ImportJob] = []

    def __call__(self, jobs: list[ImportJob]) -> None:
        self.jobs.extend(jobs)


@pytest.fixture
def retries() -> Retries:
    return Retries()


@pytest.fixture
def world() -> World:
    return World(seed=7)


@pytest.fixture
def control_api(world: World, retries: Retries) -> ControlAPI:
    return ControlAPI(world, retry_imports=retries, clock=lambda: 1000.0)


@pytest.fixture
def control_server(control_api: ControlAPI) -> Iterator[ControlServer]:
    server = ControlServer(control_api, port=0)
    # The same serve_forever, polling for shutdown every 50 ms instead of 500 ms: the
    # teardown of each of the many tests using it would otherwise wait half a second.
    server.thread = threading.Thread(
        target=server.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    server.start()
    yield server
    server.stop()
