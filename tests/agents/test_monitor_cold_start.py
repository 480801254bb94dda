"""Onboarding without a blind window: a service's first minutes, through the real monitor.

Synthetic request traffic of a newly onboarded service goes through the mesh and the
monitor agent's own consumer loop (as in ``test_monitor.py``), with no history before its
first event. An upstream that hangs is found within seconds (slower requests, fewer of them,
or none at all); twenty healthy minutes with ordinary spikes (cron bursts, slow imports)
raise nothing.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from agents import mesh
from agents.events import parse_event
from agents.models import Anomaly
from agents.monitor import fast_path
from agents.monitor.agent import BookmarkMonitorAgent
from agents.monitor.rollups import Rollups
from agents.runtime import AgentRunner

pytestmark = pytest.mark.django_db(transaction=True)
SERVICE = "shop"


def request(at: datetime, latency: float, status: int = 200):
    return parse_event({
        "type": "api.request", "source": SERVICE, "timestamp": at.isoformat(),
        "payload": {"method": "GET", "endpoint": "/products/<int:pk>/", "status": status,
                    "latency_ms": latency},
    })  # fmt: skip


class Traffic:
    """Seconds of traffic fed to the monitor in small batches, as an SDK would flush them."""

    def __init__(self, start: datetime, seed: int = 3) -> None:
        self.at = start
        self.rng = random.Random(seed)
        self.agent = BookmarkMonitorAgent(rollups=Rollups(clock=lambda: self.at.timestamp()))
        self.runner = AgentRunner(self.agent, consumer=f"cold-{id(self)}")

    def second(self, rate: float = 8.0, scale: float = 1.0, extra: tuple[float, ...] = ()):
        count = self._poisson(rate)
        events = [
            request(self.at + timedelta(milliseconds=self.rng.randrange(1000)),
                    self.rng.lognormvariate(3.0, 0.4) * scale)
            for _ in range(count)
        ] + [request(self.at + timedelta(milliseconds=500), ms) for ms in extra]  # fmt: skip
        mesh.publish_many(events) if events else None
        self.at += timedelta(seconds=1)

    def flush(self) -> None:
        while self.runner.run_once(block_ms=5):
            pass

    def tick(self) -> None:
        self.agent.rollups.finalise()

    def _poisson(self, rate: float) -> int:
        # Knuth's method: small rates only.
        limit, product, count = pow(2.718281828, -rate), self.rng.random(), 0
        while product > limit:
            count += 1
            product *= self.rng.random()
        return count


@pytest.fixture(autouse=True)
def check_every_batch(monkeypatch):
    monkeypatch.setattr(fast_path, "LATENCY_CHECK_SECONDS", 0.0)  # replayed faster than life


def run(traffic: Traffic, seconds: int, **second) -> None:
    for i in range(seconds):
        traffic.second(**second)
        if i % 2 == 1:
            traffic.flush()
        if i % 5 == 4:
            traffic.tick()
    traffic.flush()


def start_time() -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)


@pytest.mark.parametrize(
    ("hang", "series"),
    [
        # An upstream that hangs: requests wait seconds, and a quarter as many finish.
        ({"rate": 2.0, "scale": 150.0}, {"api.latency_mean", "api.throughput"}),
        # An upstream that hangs for good: nothing finishes at all, silence is the symptom.
        ({"rate": 0.0}, {"api.throughput"}),
    ],
)
def test_a_hang_is_found_within_seconds_of_onboarding(hang, series):
    traffic = Traffic(start_time())
    run(traffic, 60)  # the service's first minute: all the history there is
    assert not Anomaly.objects.exists()

    fault = traffic.at
    run(traffic, 40, **hang)

    found = Anomaly.objects.filter(series__in=series).order_by("window_end")
    assert found.exists()
    first = found.first()
    assert (first.window_end - fault).total_seconds() <= 30
    assert first.evidence["service"] == SERVICE


def test_healthy_traffic_with_ordinary_spikes_raises_nothing():
    traffic = Traffic(start_time() - timedelta(minutes=10), seed=8)
    for minute in range(20):
        for second in range(60):
            extra: tuple[float, ...] = ()
            if second == 30:  # a cron job: a burst of requests, queued a little
                extra = tuple(traffic.rng.uniform(40, 200) for _ in range(40))
            if minute % 3 == 1 and second == 10:  # an import: one request of seconds
                extra = (traffic.rng.uniform(2000, 6000),)
            traffic.second(extra=extra)
            if second % 2 == 1:
                traffic.flush()
            if second % 5 == 4:
                traffic.tick()
    traffic.flush()

    assert list(Anomaly.objects.values_list("series", "evidence")) == []
