"""The users' traffic against the web tier: a request mix at a rate that follows the time
of day, a surge aimed at search while a fault says so, and the favicon fetch each new
bookmark sets off."""

from __future__ import annotations

import math
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

from simulator.bookmarks import Tier, WebTier
from simulator.telemetry import Telemetry
from simulator.world import World

USERS = 500
#: Share of requests by endpoint (method, path, share).
REQUEST_MIX = (
    ("GET", "/api/bookmarks/", 0.45),
    ("GET", "/api/bookmarks/{id}/", 0.12),
    ("POST", "/api/bookmarks/", 0.15),
    ("GET", "/api/search/", 0.20),
    ("POST", "/accounts/login/", 0.08),
)
SEARCH_SHARE = 0.20
SEARCH_TERMS = ("python", "rust", "recipes", "k8s", "news")
HOSTS = ("github.com", "news.ycombinator.com", "docs.python.org", "www.djangoproject.com",
         "developer.mozilla.org", "stackoverflow.com", "en.wikipedia.org", "arxiv.org")  # fmt: skip


def seasonality(at: datetime) -> float:
    """Traffic relative to the weekday peak: a daily wave (04:00 low, 16:00 high) and
    quieter weekends."""
    hour = at.hour + at.minute / 60
    daily = 0.35 + 0.65 * (0.5 - 0.5 * math.cos(2 * math.pi * (hour - 4) / 24))
    return daily * (0.7 if at.weekday() >= 5 else 1.0)


@dataclass(frozen=True)
class SimulatedClock:
    """Wall-clock time sped up by ``time_scale`` from ``started_at``, for the seasonality."""

    started_at: float
    time_scale: float = 1.0

    def now(self) -> datetime:
        elapsed = (time.time() - self.started_at) * self.time_scale
        return datetime.fromtimestamp(self.started_at + elapsed, UTC)


class Workload:
    """Generates requests on a thread pool; ``traffic`` and ``search_surge`` are loops that
    run until ``stopping`` is set, and ``close`` lets the requests in flight finish."""

    def __init__(
        self,
        world: World,
        telemetry: Telemetry,
        clock: SimulatedClock,
        rng: random.Random,
        stopping: threading.Event,
        *,
        rate: float,
    ) -> None:
        self.world, self.telemetry, self.clock = world, telemetry, clock
        self.rng, self.stopping, self.rate = rng, stopping, rate
        self.web = WebTier(Tier(world, time.time, telemetry.emit, telemetry.log_error,
                                self._fetch_favicon))  # fmt: skip
        self.pool = ThreadPoolExecutor(max_workers=96, thread_name_prefix="simulator-request")

    def request_rate(self) -> float:
        base = self.rate * seasonality(self.clock.now())
        self.world.search_base_rate = base * SEARCH_SHARE
        return base * self.world.traffic_multiplier

    def traffic(self) -> None:
        while not self.stopping.is_set():
            rate = max(0.1, self.request_rate())
            if self.stopping.wait(self.rng.expovariate(rate)):
                return
            self.pool.submit(self._one_request)

    def search_surge(self) -> None:
        """Extra searches while a surge aims at search (none otherwise)."""
        while not self.stopping.is_set():
            rate = self.world.extra_search_rps
            if rate <= 0:
                if self.stopping.wait(0.5):
                    return
                continue
            if self.stopping.wait(self.rng.expovariate(rate)):
                return
            self.pool.submit(self.web.request, "GET", "/api/search/", user=self._user(),
                             params={"q": self.rng.choice(SEARCH_TERMS)})  # fmt: skip

    def close(self) -> None:
        """Requests in flight finish (and report); those not yet started are dropped."""
        self.pool.shutdown(wait=True, cancel_futures=True)

    def _user(self) -> str:
        return f"u{int(USERS * self.rng.random() ** 3)}"  # a few users are most of the traffic

    def _one_request(self) -> None:
        roll, cumulative = self.rng.random(), 0.0
        method, route = REQUEST_MIX[-1][:2]
        for method, route, share in REQUEST_MIX:  # noqa: B007  (the loop picks them)
            cumulative += share
            if roll <= cumulative:
                break
        user = self._user()
        path_info = route.replace("{id}", str(self.rng.randint(1, 50_000)))
        params = {"q": self.rng.choice(SEARCH_TERMS)}
        if method == "POST" and route == "/api/bookmarks/":
            params = {
                "url": f"https://{self.rng.choice(HOSTS)}/{self.rng.randint(1, 9999)}",
                "tags": self.rng.choice(("", "read-later", "work,python", "news")),
            }
        self.web.request(method, path_info, user=user, params=params)

    def _fetch_favicon(self, url: str) -> None:
        """The favicon fetcher picks up each new bookmark's icon."""
        host = url.split("/")[2] if "//" in url else url
        outcome = self.world.fetch_favicon(host, time.time())
        if outcome is not None:
            for service, _signal, text in outcome.errors:
                self.telemetry.log_error(service, text)
