"""The simulator's process: workload, imports, favicons, gauges, registration, scenarios.

:class:`Simulator` owns a :class:`~simulator.world.World`, the control API server, one SDK
client per service, and the threads that generate traffic. ``manage.py simulate`` runs one
until Ctrl-C; ``manage.py scorecard`` drives one in-process and injects scenarios.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from agents.events import parse_event
from agents.service_registry import record_instance_heartbeat, register_instance
from aiops_sdk import AIOpsClient
from aiops_sdk.django import reset_client
from aiops_sdk.logs import LogHandler
from core.redis import get_redis
from simulator import scenarios
from simulator.bookmarks import Tier, WebTier
from simulator.control import ControlAPI, ControlServer
from simulator.models import FaultInjection
from simulator.world import SERVICES, ImportJob, World, instance_of

logger = logging.getLogger(__name__)

VERSION = "2026.11.3"
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
IMPORT_SOURCES = (("chrome", 0.4), ("firefox", 0.25), ("pocket", 0.15), ("html", 0.2))
GAUGE_INTERVAL_S = 5.0
HEARTBEAT_INTERVAL_S = 10.0
#: Five clients (four services and the middleware's) share one token: at one request per
#: second each they stay under the ingest's default 600 requests/minute per token.
FLUSH_INTERVAL_S = 1.0
FAULT_IMPORT_INTERVAL_S = 2.0
HOSTS = ("github.com", "news.ycombinator.com", "docs.python.org", "www.djangoproject.com",
         "developer.mozilla.org", "stackoverflow.com", "en.wikipedia.org", "arxiv.org")  # fmt: skip


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


def mesh_transport() -> Any:
    """The SDK's direct-to-Redis transport on this project's Redis, checking each event
    against this project's schema as it is emitted (the SDK itself knows neither)."""
    from aiops_sdk.redis_transport import RedisTransport

    return RedisTransport(
        client=get_redis(), validate=parse_event, maxlen=settings.EVENT_STREAM_MAXLEN
    )


def seasonality(at: datetime) -> float:
    """Traffic relative to the weekday peak: a daily wave (04:00 low, 16:00 high) and
    quieter weekends."""
    hour = at.hour + at.minute / 60
    daily = 0.35 + 0.65 * (0.5 - 0.5 * math.cos(2 * math.pi * (hour - 4) / 24))
    return daily * (0.7 if at.weekday() >= 5 else 1.0)


def import_size(rng: random.Random) -> int:
    """Export sizes from 10 to 100,000 bookmarks, log-uniform (most exports are small)."""
    return int(10 ** rng.uniform(1, 5))


class Simulator:
    def __init__(self, config: SimulatorConfig, world: World | None = None) -> None:
        self.config = config
        self.world = world or World(config.seed)
        self.rng = random.Random(config.seed)  # noqa: S311  (a workload, not a secret)
        self.api = ControlAPI(self.world, retry_imports=self._retry)
        self.control = ControlServer(self.api, config.control_host, config.control_port)
        self.clients = {service: self._client(service) for service in SERVICES}
        self.loggers = {service: self._logger(service) for service in SERVICES}
        self._configure_middleware()
        self.web = WebTier(Tier(self.world, time.time, self.emit, self.log_error,
                                self._bookmark_created))  # fmt: skip
        self.pool = ThreadPoolExecutor(max_workers=96, thread_name_prefix="simulator-request")
        self.stopping = threading.Event()
        self._stopped = False
        self.threads: list[threading.Thread] = []
        self.started_at = time.time()
        self.injections: dict[str, tuple[scenarios.Scenario, int]] = {}
        self._import_seq = 0
        self._lock = threading.Lock()

    # --- Setup ------------------------------------------------------------------------------

    def _client(self, service: str) -> AIOpsClient:
        kwargs: dict[str, Any] = {"service": service, "instance": instance_of(service),
                                  "flush_interval": FLUSH_INTERVAL_S}  # fmt: skip
        if self.config.redis_direct:
            kwargs["transport"] = mesh_transport()
        return AIOpsClient(self.config.url, self.config.token, **kwargs)

    def _logger(self, service: str) -> logging.Logger:
        log = logging.getLogger(f"simulator.bookmarks.{service}")
        log.handlers = [LogHandler(self.clients[service])]
        log.propagate = False  # the service's errors are telemetry, not our console noise
        return log

    def start(self) -> Simulator:
        self.control.start()
        self.register()
        loops = (self._traffic, self._search_surge, self._imports, self._gauges, self._watch_faults)
        for target in loops:
            thread = threading.Thread(
                target=_closing_connection, args=(target,), name=f"simulator{target.__name__}",
                daemon=True,
            )  # fmt: skip
            thread.start()
            self.threads.append(thread)
        logger.info("simulator started", extra={"control": self.control.root_url})
        return self

    def _configure_middleware(self) -> None:
        """The web tier's middleware finds its client in settings.AIOPS, as in a real app."""
        aiops: dict[str, Any] = {"SERVICE": "bookmarks", "INSTANCE": instance_of("bookmarks"),
                                 "FLUSH_INTERVAL": FLUSH_INTERVAL_S}  # fmt: skip
        if self.config.redis_direct:
            aiops.update(TRANSPORT="redis", VALIDATE=parse_event,
                         STREAM_MAXLEN=settings.EVENT_STREAM_MAXLEN)  # fmt: skip
        else:
            aiops.update(URL=self.config.url, TOKEN=self.config.token)
        self._previous_aiops = getattr(settings, "AIOPS", None)
        settings.AIOPS = aiops
        reset_client()

    def _direct_registry(self) -> bool:
        """Without the HTTP API (``--redis``) the registry is written through the ORM."""
        return not (self.config.url and self.config.token)

    def register(self) -> None:
        for service, client in self.clients.items():
            registration = {"version": VERSION, "control_url": self.control.control_url(service),
                            "tags": {"simulated": True}}  # fmt: skip
            if self._direct_registry():
                register_instance(service, instance_of(service), **registration)
            else:
                client.register(heartbeat_interval=HEARTBEAT_INTERVAL_S, **registration)

    def _beat_directly(self) -> None:
        for service in SERVICES:
            record_instance_heartbeat(service, instance_of(service))
        close_old_connections()

    def stop(self) -> None:
        """Stop traffic, let requests in flight report, close the clients (once)."""
        if self._stopped:
            return
        self._stopped = True
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=5)
        # Requests in flight finish (and report) before their clients close.
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.control.stop()
        for client in self.clients.values():
            client.close(timeout=5)
        reset_client()
        if self._previous_aiops is None:
            del settings.AIOPS
        else:
            settings.AIOPS = self._previous_aiops

    # --- Reporting ----------------------------------------------------------------------------

    def emit(self, service: str, event_type: str, payload: dict[str, Any], **kwargs: Any) -> None:
        self.clients[service].emit(event_type, payload, **kwargs)

    def log_error(self, service: str, text: str) -> None:
        self.loggers[service].error(text)

    def flush(self, timeout: float = 10.0) -> bool:
        ok = all(client.flush(timeout) for client in self.clients.values())
        from aiops_sdk.django import get_client

        return get_client().flush(timeout) and ok

    # --- Workload -----------------------------------------------------------------------------

    def simulated_now(self) -> datetime:
        elapsed = (time.time() - self.started_at) * self.config.time_scale
        return datetime.fromtimestamp(self.started_at + elapsed, UTC)

    def request_rate(self) -> float:
        base = self.config.rate * seasonality(self.simulated_now())
        self.world.search_base_rate = base * SEARCH_SHARE
        return base * self.world.traffic_multiplier

    def _traffic(self) -> None:
        while not self.stopping.is_set():
            rate = max(0.1, self.request_rate())
            if self.stopping.wait(self.rng.expovariate(rate)):
                return
            self.pool.submit(self._one_request)

    def _search_surge(self) -> None:
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

    def _bookmark_created(self, url: str) -> None:
        host = url.split("/")[2] if "//" in url else url
        outcome = self.world.fetch_favicon(host, time.time())
        if outcome is not None:
            for service, _signal, text in outcome.errors:
                self.log_error(service, text)

    # --- Imports ------------------------------------------------------------------------------

    def _imports(self) -> None:
        next_regular = next_fault = time.time()
        while not self.stopping.wait(0.25):
            now = time.time()
            if self._fault_imports() and now >= next_fault:
                next_fault = now + FAULT_IMPORT_INTERVAL_S
                self.start_import(*self._fault_import())
            if now >= next_regular:
                per_second = self.config.imports_per_minute / 60 * seasonality(self.simulated_now())
                next_regular = now + self.rng.expovariate(max(per_second, 1e-3))
                source = self._pick_source()
                self.start_import(source, import_size(self.rng))

    def _fault_imports(self) -> bool:
        w = self.world
        return w.large_chrome_imports or w.malformed_html_imports or w.duplicate_imports

    def _fault_import(self) -> tuple[str, int, bool]:
        w = self.world
        kinds = []
        if w.large_chrome_imports:
            kinds.append(("chrome", self.rng.randint(20_000, 100_000), False))
        if w.malformed_html_imports:
            kinds.append(("html", self.rng.randint(50, 5000), True))
        if w.duplicate_imports:
            kinds.append((self._pick_source(), self.rng.randint(100, 3000), False))
        return self.rng.choice(kinds)

    def _pick_source(self) -> str:
        roll, cumulative = self.rng.random(), 0.0
        for source, share in IMPORT_SOURCES:
            cumulative += share
            if roll <= cumulative:
                return source
        return "chrome"

    def start_import(self, source: str, count: int, malformed: bool = False) -> ImportJob:
        with self._lock:
            self._import_seq += 1
            seq = self._import_seq
        job = ImportJob(
            f"imp-{int(self.started_at) % 100000}-{seq}",
            f"u{self.rng.randint(0, USERS)}",
            source,
            count,
            malformed=malformed,
        )
        self.emit("import-worker", "import.started", {
            "import_id": job.import_id, "user_id": job.user_id, "source": source,
            "bookmark_count": count, "batch_size": min(self.world.batch_size, count),
        })  # fmt: skip
        self._schedule_import(job)
        return job

    def _schedule_import(self, job: ImportJob) -> None:
        # A real import takes minutes; the report comes after a compressed but ordered delay.
        delay = min(3.0, 0.3 + job.bookmark_count / 40_000)
        timer = threading.Timer(delay, self._finish_import, args=(job,))
        timer.daemon = True
        timer.start()

    def _retry(self, jobs: list[ImportJob]) -> None:
        for job in jobs:
            self._schedule_import(job)

    def _finish_import(self, job: ImportJob) -> None:
        if self.stopping.is_set():
            return
        outcome = self.world.run_import(job, time.time())
        base = {
            "import_id": job.import_id,
            "user_id": job.user_id,
            "source": job.source,
            "bookmark_count": job.bookmark_count,
            "batch_size": outcome.details["batch_size"],
        }
        for service, _signal, text in outcome.errors:
            self.log_error(service, text)
        if outcome.status == 503:
            return  # imports are paused; the job waits in the queue
        if outcome.status >= 400:
            self.emit("import-worker", "import.failed", {
                **base, "error": outcome.details["error"],
                "error_type": outcome.details["error_type"],
                "duration_ms": round(outcome.latency_ms, 1),
            }, severity="error")  # fmt: skip
        else:
            self.emit("import-worker", "import.completed", {
                **base, "imported": outcome.details["imported"],
                "duplicates": outcome.details["duplicates"],
                "duration_ms": round(outcome.latency_ms, 1),
            })  # fmt: skip

    # --- Gauges -------------------------------------------------------------------------------

    def _gauges(self) -> None:
        next_gauges = next_beat = time.time()
        while not self.stopping.wait(1.0):
            now = time.time()
            self.world.advance(now)
            if self._direct_registry() and now >= next_beat:
                next_beat = now + HEARTBEAT_INTERVAL_S
                self._beat_directly()
            if now < next_gauges:
                continue
            next_gauges = now + GAUGE_INTERVAL_S
            for service, name, value, labels in self.world.gauges():
                self.emit(
                    service, "metric.sample", {"name": name, "value": value, "labels": labels}
                )
            warning = self.world.memory_warning(now)
            if warning is not None:
                for service, _signal, text in warning.errors:
                    self.log_error(service, text)

    # --- Scenarios ----------------------------------------------------------------------------

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

    def _watch_faults(self) -> None:
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


def _closing_connection(loop: Callable[[], None]) -> None:
    """Run a loop thread; its database connection closes with it (a test database, or a
    PostgreSQL restart, must not find it lingering)."""
    try:
        loop()
    finally:
        connection.close()
