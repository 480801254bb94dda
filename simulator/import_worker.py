"""The import worker's queue: exports arrive at a rate that follows the time of day (and
faster, of the faulty kind, while a fault says so), each is parsed by the world after a
short delay, and the worker reports ``import.started`` / ``.completed`` / ``.failed``."""

from __future__ import annotations

import random
import threading
import time

from simulator.deployment import ImportJob
from simulator.telemetry import Telemetry
from simulator.workload import USERS, SimulatedClock, seasonality
from simulator.world import World

IMPORT_SOURCES = (("chrome", 0.4), ("firefox", 0.25), ("pocket", 0.15), ("html", 0.2))
FAULT_IMPORT_INTERVAL_S = 2.0


def import_size(rng: random.Random) -> int:
    """Export sizes from 10 to 100,000 bookmarks, log-uniform (most exports are small)."""
    return int(10 ** rng.uniform(1, 5))


class ImportWorker:
    """``arrivals`` is a loop that runs until ``stopping`` is set; ``retry`` is what the
    control API hands failed jobs to."""

    def __init__(
        self,
        world: World,
        telemetry: Telemetry,
        clock: SimulatedClock,
        rng: random.Random,
        stopping: threading.Event,
        *,
        imports_per_minute: float,
    ) -> None:
        self.world, self.telemetry, self.clock = world, telemetry, clock
        self.rng, self.stopping = rng, stopping
        self.imports_per_minute = imports_per_minute
        self._seq = 0
        self._lock = threading.Lock()

    def arrivals(self) -> None:
        next_regular = next_fault = time.time()
        while not self.stopping.wait(0.25):
            now = time.time()
            if self._fault_imports() and now >= next_fault:
                next_fault = now + FAULT_IMPORT_INTERVAL_S
                self.start_import(*self._fault_import())
            if now >= next_regular:
                per_second = self.imports_per_minute / 60 * seasonality(self.clock.now())
                next_regular = now + self.rng.expovariate(max(per_second, 1e-3))
                source = self._pick_source()
                self.start_import(source, import_size(self.rng))

    def _fault_imports(self) -> bool:
        w = self.world
        return (
            w.large_chrome_imports
            or w.malformed_html_imports
            or w.duplicate_imports
            or w.novel.wants_imports() is not None
        )

    def _fault_import(self) -> tuple[str, int, bool]:
        w = self.world
        kinds = []
        if w.large_chrome_imports:
            kinds.append(("chrome", self.rng.randint(20_000, 100_000), False))
        if w.malformed_html_imports:
            kinds.append(("html", self.rng.randint(50, 5000), True))
        if w.duplicate_imports:
            kinds.append((self._pick_source(), self.rng.randint(100, 3000), False))
        if (source := w.novel.wants_imports()) is not None:
            source = self._pick_source() if source == "any" else source
            kinds.append((source, self.rng.randint(100, 3000), False))
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
            self._seq += 1
            seq = self._seq
        job = ImportJob(
            f"imp-{int(self.clock.started_at) % 100000}-{seq}",
            f"u{self.rng.randint(0, USERS)}",
            source,
            count,
            malformed=malformed,
        )
        self.telemetry.emit("import-worker", "import.started", {
            "import_id": job.import_id, "user_id": job.user_id, "source": source,
            "bookmark_count": count, "batch_size": min(self.world.batch_size, count),
        })  # fmt: skip
        self._schedule(job)
        return job

    def _schedule(self, job: ImportJob) -> None:
        # A real import takes minutes; the report comes after a compressed but ordered delay.
        delay = min(3.0, 0.3 + job.bookmark_count / 40_000)
        timer = threading.Timer(delay, self._finish, args=(job,))
        timer.daemon = True
        timer.start()

    def retry(self, jobs: list[ImportJob]) -> None:
        for job in jobs:
            self._schedule(job)

    def _finish(self, job: ImportJob) -> None:
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
            self.telemetry.log_error(service, text)
        if outcome.status == 503:
            return  # imports are paused; the job waits in the queue
        if outcome.status >= 400:
            self.telemetry.emit("import-worker", "import.failed", {
                **base, "error": outcome.details["error"],
                "error_type": outcome.details["error_type"],
                "duration_ms": round(outcome.latency_ms, 1),
            }, severity="error")  # fmt: skip
        else:
            self.telemetry.emit("import-worker", "import.completed", {
                **base, "imported": outcome.details["imported"],
                "duplicates": outcome.details["duplicates"],
                "duration_ms": round(outcome.latency_ms, 1),
            })  # fmt: skip
