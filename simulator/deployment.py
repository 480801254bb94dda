"""What the simulated bookmark manager is made of: its services, their limits, and the two
records that cross the world's edge (an import job and the outcome of handling something).

Four services share one world, as they share one database in a real deployment:

* ``bookmarks`` — the Django web app (``bookmarks-1``): lists, creates and searches bookmarks,
  logs users in (sessions in Redis), accepts imports;
* ``import-worker`` (``import-worker-1``): parses Chrome / Firefox / Pocket / HTML exports
  in batches;
* ``search`` (``search-1``): the full-text index behind search, with a number of replicas;
* ``favicon-fetcher`` (``favicon-fetcher-1``): fetches icons of new bookmarks upstream.
"""

from __future__ import annotations

import math
import random
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


def instance_of(service: str) -> str:
    return f"{service}-1"


def lognormal(rng: random.Random, median_ms: float, sigma: float = 0.35) -> float:
    """A latency around ``median_ms`` with the long right tail real latencies have."""
    return median_ms * math.exp(rng.gauss(0.0, sigma))


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
