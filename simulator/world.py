"""The simulated bookmark manager's state, its faults and their mitigations: no I/O, no clock
of its own.

The services and their limits are in ``deployment.py``; how each one behaves given this
state is in its own model (``web_requests.py``, ``import_parsing.py``, ``resources.py``,
``favicon_upstream.py``), which the world composes and calls under its lock. Faults
(``scenarios.py``) only change fields of this state; the control API (``control.py``)
changes them back through the operations here, which is the only way a fault ends.
Everything that depends on time takes ``now`` (seconds), so tests drive it without sleeping.
"""

from __future__ import annotations

import random
import threading
from typing import Any

from simulator.deployment import (
    BATCH_TIME_LIMIT_S,
    DEFAULT_BATCH_SIZE,
    ITEM_COST_MS,
    MEMORY_BASELINE_MB,
    SERVICES,
    ImportJob,
    Outcome,
    instance_of,
)
from simulator.favicon_upstream import FaviconUpstream
from simulator.import_parsing import ImportParsing
from simulator.novel_faults import NovelFaults
from simulator.resources import Resources
from simulator.signals import SignalLog
from simulator.web_requests import SearchCapacity, WebRequests


class World:
    """The bookmark manager's mutable state; every method is safe from any thread."""

    def __init__(self, seed: int | None = None) -> None:
        self.lock = threading.RLock()
        self.random = random.Random(seed)  # noqa: S311  (a simulation, not a secret)
        # History, kept across resets: the signals counted so far and the leaks' clock.
        self.signal_log = SignalLog()
        self._resources = Resources(self)
        self._search = SearchCapacity(self)
        self._web = WebRequests(self, self._search)
        self._imports = ImportParsing(self)
        self._favicons = FaviconUpstream(self)
        self.novel = NovelFaults(self)
        self._set_defaults()

    def reset(self) -> None:
        """Back to the healthy deployment: faults gone, and the mitigations of earlier ones
        (flags, replicas, batch size) reverted, so the next scenario starts from the same
        place. Signals counted so far are kept (they are history)."""
        with self.lock:
            self._set_defaults()

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
        # The novel faults' knobs (``novel_faults.py``): off in a healthy deployment.
        self.fd_exhausted = False  # the import worker leaks file descriptors to its limit
        self.favicon_dns_failing = False
        self.broken_endpoint = ""  # an endpoint a bad release breaks, once it is live
        self.pocket_cert_expired = False
        self.cpu_saturation = 1.0  # every latency is multiplied by it
        self.clock_skew_s = 0.0
        # Deploys and config changes to announce (service, event type, payload); the code
        # they ship is live once they are announced.
        self.pending_changes: list[tuple[str, str, dict[str, Any]]] = []

    # --- Behaviour, by the model of the service it concerns ---------------------------------

    def advance(self, now: float) -> None:
        """Let leaks grow by the time passed since the last call."""
        with self.lock:
            self._resources.advance(now)

    def handle_request(self, endpoint: str, *, authenticated: bool, now: float) -> Outcome:
        with self.lock:
            return self._web.handle(endpoint, authenticated=authenticated, now=now)

    def search_utilisation(self) -> float:
        return self._search.utilisation()

    def run_import(self, job: ImportJob, now: float) -> Outcome:
        """Parse one export in batches; returns the outcome the import worker reports."""
        with self.lock:
            return self._imports.run(job, now)

    def take_retries(self, import_id: str = "") -> list[ImportJob]:
        with self.lock:
            return self._imports.take_retries(import_id)

    def fetch_favicon(self, host: str, now: float) -> Outcome | None:
        """None when fetching is paused by its feature flag."""
        with self.lock:
            return self._favicons.fetch(host, now)

    def announce(self, service: str, event_type: str, payload: dict[str, Any]) -> None:
        with self.lock:
            self.pending_changes.append((service, event_type, payload))

    def take_changes(self) -> list[tuple[str, str, dict[str, Any]]]:
        """The changes to announce now; what they ship goes live as they are taken."""
        with self.lock:
            changes, self.pending_changes = self.pending_changes, []
            return changes

    def gauges(self) -> list[tuple[str, str, float, dict[str, str]]]:
        """(service, metric name, value, labels) samples a real deployment would export."""
        with self.lock:
            return self._resources.gauges()

    def memory_warning(self, now: float) -> Outcome | None:
        """The worker's own watchdog line once its resident memory passes the soft limit."""
        with self.lock:
            return self._resources.memory_warning(now)

    # --- What is wrong (the control API's health report, the scorecard's ground truth) ----

    def signals(self, service: str | None, now: float) -> dict[str, int]:
        """Errors by signal in the last minute, for one service or all of them."""
        with self.lock:
            return self.signal_log.counts(service, now)

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
            } | self.novel.present()
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

    # --- The control API's operations (the mitigations) -------------------------------------

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
