"""The simulated bookmark manager's state and how it behaves: no I/O, no clock of its own.

Four services share one world, as they share one database in a real deployment:

* ``bookmarks`` — the Django web app (``bookmarks-1``): lists, creates and searches bookmarks,
  logs users in (sessions in Redis), accepts imports;
* ``import-worker`` (``import-worker-1``): parses Chrome / Firefox / Pocket / HTML exports
  in batches;
* ``search`` (``search-1``): the full-text index behind search, with a number of replicas;
* ``favicon-fetcher`` (``favicon-fetcher-1``): fetches icons of new bookmarks upstream.

Faults (``scenarios.py``) only change fields of this state; the control API
(``control.py``) changes them back, which is the only way a fault ends. Everything that
depends on time takes ``now`` (seconds), so tests drive it without sleeping.
"""

from __future__ import annotations

import math
import random
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

SERVICES = ("bookmarks", "import-worker", "search", "favicon-fetcher")

#: Import parsing cost per bookmark (ms) by source: Chrome's nested JSON is the slowest.
ITEM_COST_MS = {"chrome": 6.0, "firefox": 4.0, "pocket": 2.0, "html": 3.0, "other": 3.0}
#: A batch running longer than this is killed by the worker's soft time limit.
BATCH_TIME_LIMIT_S = 30.0
DEFAULT_BATCH_SIZE = 1000
MEMORY_LIMIT_MB = 2048
MEMORY_WARN_FRACTION = 0.8
MEMORY_BASELINE_MB = 420.0
DB_POOL_SIZE = 20
SEARCH_CAPACITY_PER_REPLICA = 15.0  # searches per second one replica serves before queueing
STATEMENT_TIMEOUT_MS = 5000.0
SIGNAL_WINDOW_S = 60.0
#: What the ORM's slow-query log prints (a log line, never a query that runs).
SLOW_QUERY = (
    "Slow query ({ms:.0f} ms): SELECT ... FROM bookmarks_bookmark WHERE title ILIKE '%{term}%'"
)
FAVICON_FAILURES = ((429, "Too Many Requests"), (502, "Bad Gateway"), (503, "Service Unavailable"))
#: The exception class an import failure reports, by root cause.
ERROR_TYPES = {
    "import_timeout": "SoftTimeLimitExceeded",
    "high_memory_usage": "WorkerLostError",
    "import_parse_error": "HTMLParseError",
}


def instance_of(service: str) -> str:
    return f"{service}-1"


@dataclass
class ImportJob:
    import_id: str
    user_id: str
    source: str
    bookmark_count: int
    malformed: bool = False
    attempts: int = 0


@dataclass
class Outcome:
    """What handling one request or import did: the caller turns it into telemetry."""

    status: int = 200
    latency_ms: float = 0.0
    errors: list[tuple[str, str, str]] = field(default_factory=list)  # (service, signal, text)
    details: dict[str, Any] = field(default_factory=dict)


class World:
    """The bookmark manager's mutable state; every method is safe from any thread."""

    def __init__(self, seed: int | None = None) -> None:
        self.lock = threading.RLock()
        self.random = random.Random(seed)  # noqa: S311  (a simulation, not a secret)
        self._set_defaults()

    def reset(self) -> None:
        """Back to the healthy deployment: faults gone, and the mitigations of earlier ones
        (flags, replicas, batch size) reverted, so the next scenario starts from the same
        place. Signals counted so far are kept (they are history)."""
        with self.lock:
            signals, last_advance = self._signals, self._last_advance
            self._set_defaults()
            self._signals, self._last_advance = signals, last_advance

    def _set_defaults(self) -> None:
        self.batch_size = DEFAULT_BATCH_SIZE
        self.flags: dict[str, bool] = {
            "favicon_fetch": True,
            "lenient_html_import": False,
            "import_charset_detection": False,
            "firefox_import_tolerant": False,
            "db_sessions_fallback": False,
            "imports_enabled": True,
            "dedupe_on_import": True,
        }
        self.replicas: dict[str, int] = {service: 1 for service in SERVICES}
        self.replicas["search"] = 2
        self.memory_mb: dict[str, float] = {instance_of(s): MEMORY_BASELINE_MB for s in SERVICES}
        self.memory_leak_mb_s: dict[str, float] = {}
        self.pool_in_use = 4.0
        self.pool_leak_per_s = 0.0
        self.search_index_valid = True
        self.session_store_up = True
        self.favicon_upstream_failing = False
        self.traffic_multiplier = 1.0
        self.extra_search_rps = 0.0  # a surge aimed at search (a viral link, a crawler)
        self.search_base_rate = 4.0  # searches/s before any surge; the traffic loop keeps it
        self.large_chrome_imports = False
        self.malformed_html_imports = False
        self.duplicate_imports = False
        self.failed_imports: dict[str, ImportJob] = {}
        self.cache_keys: dict[str, int] = {"default": 1200, "search": 300}
        self.restarts: dict[str, int] = {}
        self.imports_run = 0
        self._signals: dict[str, deque[tuple[float, str]]] = {s: deque() for s in SERVICES}
        self._last_advance: float | None = None

    # --- Time ---------------------------------------------------------------------------------

    def advance(self, now: float) -> None:
        """Let leaks grow by the time passed since the last call."""
        with self.lock:
            elapsed = 0.0 if self._last_advance is None else max(0.0, now - self._last_advance)
            self._last_advance = now
            for instance, rate in self.memory_leak_mb_s.items():
                self.memory_mb[instance] = min(
                    MEMORY_LIMIT_MB, self.memory_mb[instance] + rate * elapsed
                )
            if self.pool_leak_per_s:
                self.pool_in_use = min(
                    DB_POOL_SIZE, self.pool_in_use + self.pool_leak_per_s * elapsed
                )

    # --- Requests -----------------------------------------------------------------------------

    def _lognormal(self, median_ms: float, sigma: float = 0.35) -> float:
        return median_ms * math.exp(self.random.gauss(0.0, sigma))

    def _db_factor(self) -> float:
        """Requests wait for a connection as the pool fills (the latency creep)."""
        return 1.0 + 4.0 * max(0.0, self.pool_in_use - 8) / DB_POOL_SIZE

    def handle_request(self, endpoint: str, *, authenticated: bool, now: float) -> Outcome:
        with self.lock:
            if (
                authenticated
                and not self.session_store_up
                and not self.flags["db_sessions_fallback"]
            ):
                return self._error(
                    "bookmarks", "session_store_down", now, status=500,
                    latency_ms=self._lognormal(25),
                    text="redis.exceptions.ConnectionError: Error 111 connecting to "
                    "redis:6379. Connection refused.",
                )  # fmt: skip
            if endpoint != "login" and self.pool_in_use >= DB_POOL_SIZE:
                return self._error(
                    "bookmarks", "db_pool_exhausted", now, status=500, latency_ms=3000.0,
                    text="psycopg_pool.PoolTimeout: couldn't get a connection after 3.00 sec",
                )  # fmt: skip
            if endpoint == "search":
                return self._search(now)
            median = {"list": 35.0, "detail": 18.0, "create": 45.0, "login": 60.0}.get(
                endpoint, 30.0
            )
            return Outcome(status=201 if endpoint == "create" else 200,
                           latency_ms=self._lognormal(median) * self._db_factor())  # fmt: skip

    def search_utilisation(self) -> float:
        capacity = SEARCH_CAPACITY_PER_REPLICA * self.replicas["search"]
        return (self.search_base_rate * self.traffic_multiplier + self.extra_search_rps) / capacity

    def _search(self, now: float) -> Outcome:
        if not self.search_index_valid:
            latency = self.random.uniform(2200, 4600)
            term = self.random.choice(("python", "kubernetes", "recipes", "rust", "news"))
            return self._error(
                "search", "search_latency_high", now, status=200, latency_ms=latency,
                text=SLOW_QUERY.format(ms=latency, term=term),
            )  # fmt: skip
        utilisation = self.search_utilisation()
        if utilisation >= 1.0 and self.random.random() < 1.0 - 1.0 / utilisation:
            return self._error(
                "search", "search_timeout", now, status=504, latency_ms=STATEMENT_TIMEOUT_MS,
                text="QueryCanceled: canceling statement due to statement timeout "
                f"(search_bookmarks, {STATEMENT_TIMEOUT_MS:.0f} ms)",
            )  # fmt: skip
        queueing = 1.0 / max(0.05, 1.0 - min(utilisation, 0.95))
        return Outcome(latency_ms=self._lognormal(40) * queueing * self._db_factor())

    # --- Imports ------------------------------------------------------------------------------

    def run_import(self, job: ImportJob, now: float) -> Outcome:
        """Parse one export in batches; returns the outcome the import worker reports."""
        with self.lock:
            job.attempts += 1
            self.imports_run += 1
            worker = instance_of("import-worker")
            batch = min(self.batch_size, max(1, job.bookmark_count))
            duration_ms = job.bookmark_count * ITEM_COST_MS.get(job.source, 3.0) + 50
            outcome = Outcome(latency_ms=duration_ms, details={"batch_size": batch})
            if not self.flags["imports_enabled"]:
                outcome.status = 503
                return outcome
            if self.memory_mb[worker] >= MEMORY_LIMIT_MB * MEMORY_WARN_FRACTION:
                return self._import_failed(
                    job, now, "high_memory_usage",
                    f"Container {worker} was OOMKilled (exit code 137) while running "
                    f"import_bookmarks[{job.source}] for import {job.import_id}",
                )  # fmt: skip
            if job.malformed and job.source == "html" and not self.flags["lenient_html_import"]:
                line = self.random.randint(80, 4000)
                return self._import_failed(
                    job, now, "import_parse_error",
                    f"HTMLParseError: unexpected end tag </DL> at line {line}, column 9 in "
                    f"bookmarks.html (import {job.import_id})",
                )  # fmt: skip
            batch_seconds = batch * ITEM_COST_MS.get(job.source, 3.0) / 1000
            if batch_seconds > BATCH_TIME_LIMIT_S:
                return self._import_failed(
                    job, now, "import_timeout",
                    f"Import job {job.import_id} timed out after {BATCH_TIME_LIMIT_S:.0f}s "
                    f"while processing {job.source} bookmarks ({job.bookmark_count} items, "
                    f"batch size {batch})",
                )  # fmt: skip
            self.failed_imports.pop(job.import_id, None)
            duplicates = 0
            if self.duplicate_imports and not self.flags["dedupe_on_import"]:
                duplicates = max(1, job.bookmark_count // 12)
                self._signal("import-worker", "duplicate_bookmarks", now)
                outcome.errors.append((
                    "import-worker", "duplicate_bookmarks",
                    f"IntegrityError: duplicate key value violates unique constraint "
                    f'"bookmarks_bookmark_user_id_url_key" (import {job.import_id}, '
                    f"{duplicates} duplicates)",
                ))  # fmt: skip
            outcome.details.update(imported=job.bookmark_count - duplicates, duplicates=duplicates)
            return outcome

    def _import_failed(self, job: ImportJob, now: float, signal: str, text: str) -> Outcome:
        self.failed_imports[job.import_id] = job
        outcome = self._error("import-worker", signal, now, status=500, latency_ms=0.0, text=text)
        error_type = ERROR_TYPES.get(signal, "ImportError")
        outcome.details.update(error=text, error_type=error_type, batch_size=min(
            self.batch_size, max(1, job.bookmark_count)))  # fmt: skip
        return outcome

    def take_retries(self, import_id: str = "") -> list[ImportJob]:
        with self.lock:
            if import_id:
                job = self.failed_imports.pop(import_id, None)
                return [job] if job else []
            jobs = list(self.failed_imports.values())
            self.failed_imports.clear()
            return jobs

    # --- Favicons -----------------------------------------------------------------------------

    def fetch_favicon(self, host: str, now: float) -> Outcome | None:
        """None when fetching is paused by its feature flag."""
        with self.lock:
            if not self.flags["favicon_fetch"]:
                return None
            if self.favicon_upstream_failing:
                code, reason = self.random.choice(FAVICON_FAILURES)
                return self._error(
                    "favicon-fetcher", "favicon_rate_limited", now, status=code,
                    latency_ms=self._lognormal(300),
                    text=f"HTTP {code} {reason} fetching https://{host}/favicon.ico "
                    f"(Retry-After: {self.random.choice((60, 120, 300))})",
                )  # fmt: skip
            return Outcome(latency_ms=self._lognormal(120))

    # --- Gauges ---------------------------------------------------------------------------------

    def gauges(self) -> list[tuple[str, str, float, dict[str, str]]]:
        """(service, metric name, value, labels) samples a real deployment would export."""
        with self.lock:
            samples = [
                (
                    service,
                    "process.memory_rss_mb",
                    round(self.memory_mb[instance_of(service)], 1),
                    {"instance": instance_of(service)},
                )
                for service in SERVICES
            ]
            samples.append(("bookmarks", "db.pool_in_use", round(self.pool_in_use, 1), {}))
            samples.append(("search", "search.replicas", float(self.replicas["search"]), {}))
            return samples

    def memory_warning(self, now: float) -> Outcome | None:
        """The worker's own watchdog line once its resident memory passes the soft limit."""
        with self.lock:
            worker = instance_of("import-worker")
            rss = self.memory_mb[worker]
            if rss < MEMORY_LIMIT_MB * MEMORY_WARN_FRACTION:
                return None
            return self._error(
                "import-worker", "high_memory_usage", now, status=0, latency_ms=0.0,
                text=f"Worker rss {rss:.0f} MiB exceeds {MEMORY_WARN_FRACTION:.0%} of limit "
                f"{MEMORY_LIMIT_MB} MiB after {self.imports_run} tasks",
            )  # fmt: skip

    # --- Signals (what the control API's health report counts) ------------------------------

    def _error(
        self, service: str, signal: str, now: float, *, status: int, latency_ms: float, text: str
    ) -> Outcome:
        self._signal(service, signal, now)
        return Outcome(status=status, latency_ms=latency_ms, errors=[(service, signal, text)])

    def _signal(self, service: str, signal: str, now: float) -> None:
        self._signals[service].append((now, signal))

    def signals(self, service: str | None, now: float) -> dict[str, int]:
        """Errors by signal in the last minute, for one service or all of them."""
        counts: dict[str, int] = {}
        with self.lock:
            for name, seen in self._signals.items():
                while seen and seen[0][0] < now - SIGNAL_WINDOW_S:
                    seen.popleft()
                if service is None or name == service:
                    for _, signal in seen:
                        counts[signal] = counts.get(signal, 0) + 1
        return counts

    def faulty(self) -> list[str]:
        """The root causes present right now (the ground truth the scorecard reads)."""
        with self.lock:
            worker = instance_of("import-worker")
            present = {
                "import_timeout": self.large_chrome_imports
                and self.batch_size * ITEM_COST_MS["chrome"] / 1000 > BATCH_TIME_LIMIT_S,
                "high_memory_usage": bool(self.memory_leak_mb_s.get(worker)),
                "duplicate_bookmarks": self.duplicate_imports
                and not self.flags["dedupe_on_import"],
                "search_latency_high": not self.search_index_valid,
                "session_store_down": not self.session_store_up
                and not self.flags["db_sessions_fallback"],
                "search_timeout": self.search_utilisation() >= 1.0,
                "db_pool_exhausted": self.pool_leak_per_s > 0,
                "favicon_rate_limited": self.favicon_upstream_failing
                and self.flags["favicon_fetch"],
                "import_parse_error": self.malformed_html_imports
                and not self.flags["lenient_html_import"],
            }
            return sorted(signal for signal, on in present.items() if on)

    def health(self, service: str | None, now: float) -> dict[str, Any]:
        signals = self.signals(service, now)
        total = sum(signals.values())
        status = "healthy" if total == 0 else ("unhealthy" if total >= 30 else "degraded")
        return {"status": status, "signals": signals}

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "batch_size": self.batch_size,
                "flags": dict(self.flags),
                "replicas": dict(self.replicas),
                "memory_mb": {k: round(v, 1) for k, v in self.memory_mb.items()},
                "pool_in_use": round(self.pool_in_use, 1),
                "search_index_valid": self.search_index_valid,
                "session_store_up": self.session_store_up,
                "failed_imports": len(self.failed_imports),
                "faults": self.faulty(),
            }

    # --- The control API's operations -------------------------------------------------------

    def restart(self, instances: list[str]) -> list[str]:
        """A restart frees what the process leaked: memory, and the connections it held."""
        with self.lock:
            known = [i for i in instances if i in self.memory_mb] or list(self.memory_mb)
            for instance in known:
                self.memory_mb[instance] = MEMORY_BASELINE_MB
                self.memory_leak_mb_s.pop(instance, None)
                self.restarts[instance] = self.restarts.get(instance, 0) + 1
                if instance == instance_of("bookmarks"):
                    self.pool_in_use, self.pool_leak_per_s = 4.0, 0.0
            return known

    def scale(self, service: str, delta: int) -> int:
        with self.lock:
            self.replicas[service] = max(1, min(20, self.replicas[service] + delta))
            return self.replicas[service]

    def clear_cache(self, cache: str, pattern: str) -> int:
        """Clearing the search cache rebuilds the index from the database, a valid one."""
        with self.lock:
            cleared = self.cache_keys.get(cache, 0)
            self.cache_keys[cache] = 0
            if cache == "search":
                self.search_index_valid = True
            return cleared

    def set_flag(self, flag: str, enabled: bool) -> bool:
        with self.lock:
            previous = self.flags.get(flag, False)
            self.flags[flag] = enabled
            return previous

    def dedupe(self) -> int:
        """Merge duplicate bookmarks and turn the import's duplicate check back on."""
        with self.lock:
            self.flags["dedupe_on_import"] = True
            self.duplicate_imports = False
            return 1
