"""The bookmark monitor's domain logic: minute rollups, their finalisation, anomaly detection.

Plain Python over Redis and the ORM, so it is tested without Celery; the agent
(``agents/builtin/monitor.py``) only feeds it batches and ticks.

Why it is shaped this way:

* **Many workers, one count.** Every worker that runs the monitor is a member of its consumer
  group and sees a share of the events. Each batch is first summed in memory, then added to
  Redis with one pipeline of ``HINCRBY`` / ``HINCRBYFLOAT`` on per-(minute, group) hashes, so
  the totals are the same whichever worker saw which event. Latency percentiles come from
  fixed log-spaced histogram buckets (``BUCKET_GROWTH`` apart, so any percentile is known
  within ``PERCENTILE_ERROR``) because buckets add up across workers where sorted samples
  cannot; active users are a HyperLogLog per minute for the same reason.
* **Exactly once into PostgreSQL.** A tick finalises closed minutes (older than a minute plus
  ``GRACE_SECONDS``) into :class:`~agents.models.MetricPoint` rows. One worker at a time holds
  the finalisation lease (``SET NX PX``) so minutes are finalised in order (the detectors need
  order); a minute leaves the pending set only if no event arrived for it meanwhile (a
  compare-and-delete on its version), so a late event re-finalises its minute (the point is
  upserted) instead of being lost, and each detector skips minutes it has already seen.
* **Detection on every series** with :class:`agents.anomaly.StreamingDetector` (the detector
  scored on NAB), its state kept in Redis beside the last minute it saw. Minute rollups
  cannot see a fault in under a second, so a **fast path** in :meth:`Rollups.ingest` keeps
  per-second counters and tests the last ``FAST_WINDOW_SECONDS`` against the rate of the
  previous ``BASELINE_MINUTES`` (a Poisson tail for counts, a ratio for mean latency), with
  minimum counts; a per-series cooldown (``SET NX EX``) turns a burst into one anomaly.
* Delivery is at-least-once: a worker dying between its increments and its acknowledgement
  counts that batch twice. Rollups are statistics, so this rare over-count is accepted rather
  than paying for a per-event idempotency record on the hot path.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis
from django.db import transaction
from django.db.models import Sum
from django.db.models.functions import ExtractHour, ExtractIsoWeekDay

from agents import mesh
from agents.events import Event
from agents.models import Anomaly, AnomalyDetector, MetricKind, MetricPoint, MetricSeries
from agents.monitor.detector import ALERT_SCORE, ALERT_SURPRISE, SCORE_HALF, StreamingDetector
from core.redis import get_redis

logger = logging.getLogger(__name__)

#: The event types the monitor reads.
MONITORED_TYPES: tuple[str, ...] = (
    "api.request",
    "bookmark.created",
    "bookmark.searched",
    "db.query",
    "import.started",
    "import.completed",
    "import.failed",
    "metric.sample",
    "user.activity",
)
PREFIX = "aiops:monitor"
MINUTE = 60
#: A minute is final this long after it ended (events in flight, clock skew between hosts).
GRACE_SECONDS = 5
#: Minute hashes outlive finalisation: late events re-finalise, and they are the baseline.
KEEP_SECONDS = 3 * 3600
FINALISE_LEASE_MS = 60_000

#: Latency histogram: bucket 0 holds <= BUCKET_BASE_MS, bucket i (BASE*G^(i-1), BASE*G^i].
BUCKET_BASE_MS = 0.1
BUCKET_GROWTH = 1.15
MAX_BUCKET = 250  # 0.1 ms * 1.15^250: about 1.5e14 ms, past any real latency
#: A percentile read at a bucket's geometric midpoint is off by at most this fraction.
PERCENTILE_ERROR = math.sqrt(BUCKET_GROWTH) - 1
PERCENTILES: tuple[tuple[str, float], ...] = (("p50", 0.50), ("p95", 0.95), ("p99", 0.99))

#: Per-endpoint series are kept for this many endpoints; the rest count in the overall series.
MAX_ENDPOINTS = 50
MAX_METRIC_SERIES = 200
_ID_SEGMENT = re.compile(
    r"/(?:\d+|[0-9a-f]{8}-[0-9a-f-]{27,}|[0-9a-fA-F]{16,}|[0-9A-Z]{26})(?=/|$)"
)

#: Fast path: the window tested, the baseline it is tested against, and the cooldown.
FAST_WINDOW_SECONDS = 10
BASELINE_MINUTES = 15
SECOND_KEY_TTL = 180
COOLDOWN_SECONDS = 300
#: A fast-path cooldown ends this long after its anomaly once the series is normal again.
REARM_AFTER_SECONDS = 30
LATENCY_CHECK_SECONDS = 1.0
BASELINE_TTL = 5.0

#: Minute detection: recent points kept for the expected range and as evidence.
RECENT_POINTS = 60
EVIDENCE_POINTS = 15
#: A mean or ratio over fewer samples than this is charted but not judged; a percentile
#: needs MIN_TAIL_SAMPLES above it (p99: 500 samples), or it is only the noisy maximum.
MIN_SAMPLES_TO_JUDGE = 20
MIN_TAIL_SAMPLES = 5
#: History (points) the expected range needs before any minute anomaly is raised.
MIN_RECENT_POINTS = 20
#: Expected range half-width, in robust standard deviations around the recent median.
RANGE_SIGMAS = 4.0

# ARGV: number of keys, a TTL per key, then (key number, 'i'|'f', field, amount) per field.
_INCREMENT = """
local nkeys = tonumber(ARGV[1])
local i = nkeys + 2
while i <= #ARGV do
    local key = KEYS[tonumber(ARGV[i])]
    if ARGV[i + 1] == 'f' then
        redis.call('HINCRBYFLOAT', key, ARGV[i + 2], ARGV[i + 3])
    else
        redis.call('HINCRBY', key, ARGV[i + 2], ARGV[i + 3])
    end
    i = i + 4
end
for k = 1, nkeys do
    redis.call('EXPIRE', KEYS[k], ARGV[k + 1])
end
return nkeys
"""
_CAS_DELETE = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
    return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
"""
_EXTEND_IF_OWNER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE_IF_OWNER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


# --- Histograms ---------------------------------------------------------------------------------


def bucket_index(ms: float) -> int:
    """The histogram bucket of a latency in milliseconds."""
    if ms <= BUCKET_BASE_MS:
        return 0
    return min(MAX_BUCKET, math.ceil(math.log(ms / BUCKET_BASE_MS) / math.log(BUCKET_GROWTH)))


def bucket_value(index: int) -> float:
    """The value a bucket stands for: its geometric midpoint (bucket 0: its upper bound)."""
    if index <= 0:
        return BUCKET_BASE_MS
    return BUCKET_BASE_MS * BUCKET_GROWTH ** (index - 0.5)


def percentile(histogram: Mapping[int, float], q: float) -> float | None:
    """Nearest-rank percentile of a bucket histogram (None when it is empty)."""
    total = sum(histogram.values())
    if total <= 0:
        return None
    rank = max(1.0, math.ceil(q * total))
    seen = 0.0
    for index in sorted(histogram):
        seen += histogram[index]
        if seen >= rank:
            return bucket_value(index)
    return bucket_value(max(histogram))


def min_samples(name: str, kind: str) -> float:
    """Samples a minute's value needs before the detector may judge it."""
    if kind == MetricKind.COUNT:
        return 0.0
    for suffix, q in PERCENTILES:
        if series_base(name).endswith("_" + suffix):
            return math.ceil(MIN_TAIL_SAMPLES / (1.0 - q))
    return MIN_SAMPLES_TO_JUDGE


# --- Naming -----------------------------------------------------------------------------------


def series_name(base: str, **labels: str) -> str:
    """``api.latency_p95{endpoint=/api/bookmarks}``: labels sorted, so one name per series."""
    if not labels:
        return base
    inner = ",".join(f"{key}={value}" for key, value in sorted(labels.items()))
    return f"{base}{{{inner}}}"


def series_base(name: str) -> str:
    return name.partition("{")[0]


def normalise_endpoint(endpoint: str) -> str:
    """Collapse ids in paths (``/api/bookmarks/42`` -> ``/api/bookmarks/{id}``)."""
    path = endpoint.split("?", 1)[0] or "/"
    return _ID_SEGMENT.sub("/{id}", path)[:150]


#: Category and severity of an anomaly by series family (first matching prefix wins).
_CATEGORIES: tuple[tuple[str, str], ...] = (
    ("imports.", "import"),
    ("api.error_rate", "availability"),
    ("api.requests", "capacity"),
    ("api.latency", "performance"),
    ("db.", "performance"),
    ("search.latency", "performance"),
    ("search.", "capacity"),
    ("bookmarks.", "data-integrity"),
    ("users.", "capacity"),
)


def category_for(series: str) -> str:
    """The knowledge-graph category (``knowledge.models.Category``) of a series' anomalies."""
    for prefix, category in _CATEGORIES:
        if series.startswith(prefix):
            return category
    return "other"


def severity_for(category: str, score: float) -> str:
    """Failures and outages are errors, the rest warnings; a near-certain one goes up a level."""
    levels = ("warning", "error", "critical")
    level = 1 if category in ("import", "availability") else 0
    if score >= 0.9:
        level += 1
    return levels[level]


def problem_message(series: str) -> str:
    """The sighting message for a series' anomalies: one Problem per series family.

    Dotted names are masked as parameters by the fingerprinter (every "Anomaly on x.y" would
    be one Problem), so the family is spelled out in words; labels are left out on purpose
    (an endpoint is context of the Anomaly row, not a different kind of failure).
    """
    words = series_base(series).replace(".", " ").replace("_", " ")
    return f"Anomaly on {words}"


# --- Ingest -------------------------------------------------------------------------------------


def _minute_key(minute: int, group: str) -> str:
    return f"{PREFIX}:m:{minute}:{group}"


def _groups_key(minute: int) -> str:
    return f"{PREFIX}:m:{minute}:groups"


def _users_key(minute: int) -> str:
    return f"{PREFIX}:m:{minute}:users"


def _second_key(second: int) -> str:
    return f"{PREFIX}:s:{second}"


PENDING_KEY = f"{PREFIX}:pending"
LEASE_KEY = f"{PREFIX}:finalise-lease"
DETECTORS_KEY = f"{PREFIX}:detectors"
ENDPOINTS_KEY = f"{PREFIX}:endpoints"
METRICS_KEY = f"{PREFIX}:metrics"


def _timestamp(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float):
        return float(value)
    return datetime.fromisoformat(str(value)).timestamp()


def event_record(event: Event | Mapping[str, Any]) -> Mapping[str, Any]:
    """Events may come as :class:`Event` or as the decoded wire JSON (the hot path)."""
    if isinstance(event, Event):
        return {
            "id": event.id,
            "type": event.type,
            "source": event.source,
            "timestamp": event.timestamp,
            "payload": event.payload,
        }
    return event


@dataclass
class _Batch:
    """One batch summed in memory, so Redis sees one command per distinct (key, field)."""

    counters: dict[tuple[int, str], dict[str, float]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(float))
    )
    users: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))
    seconds: dict[int, dict[str, float]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(float))
    )
    pending: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    triggers: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    sources: dict[str, str] = field(default_factory=dict)
    last_second: int | None = None

    def add(self, minute: int, group: str, values: Mapping[str, float]) -> None:
        bucket = self.counters[(minute, group)]
        for name, amount in values.items():
            bucket[name] += amount


@dataclass(frozen=True)
class BurstRule:
    """A count in the fast window tested against its recent rate.

    ``count_field`` is counted per second; ``exposure_field`` (e.g. requests) turns it into a
    share, otherwise the exposure is time. ``prior_exposure`` is the least baseline exposure
    assumed (one event per that much exposure at most), so a fresh system does not fire on
    its first few events.
    """

    series: str
    count_field: str
    exposure_field: str | None
    prior_exposure: float
    min_count: int = 5
    min_ratio: float = 4.0


BURST_RULES: tuple[BurstRule, ...] = (
    BurstRule("imports.failed", "imports.failed", None, prior_exposure=60.0),
    BurstRule("api.error_rate", "api.errors", "api.count", prior_exposure=100.0),
)
#: Mean latency over the fast window against the baseline mean (a ratio, with minimum counts).
LATENCY_SERIES = "api.latency_mean"
LATENCY_MIN_WINDOW = 20
LATENCY_MIN_BASELINE = 100
LATENCY_RATIO = 3.0
#: A creep: the window's mean this much above the baseline, with SUSTAINED_SECONDS of its
#: seconds (each with SUSTAINED_MIN_REQUESTS) above it too, so one slow second is not enough.
SUSTAINED_RATIO = 1.6
SUSTAINED_SECONDS = 7
SUSTAINED_MIN_REQUESTS = 3


def sustained_seconds(per_second: Iterable[tuple[float, float]], baseline_mean: float) -> int:
    """How many seconds of the window had a mean latency SUSTAINED_RATIO over the baseline."""
    return sum(
        1
        for count, total in per_second
        if count >= SUSTAINED_MIN_REQUESTS and total / count >= SUSTAINED_RATIO * baseline_mean
    )


@dataclass(frozen=True)
class Finding:
    """Something anomalous, before it is recorded: what the Anomaly row and event will say."""

    series: str
    detector: str
    score: float
    value: float
    window_start: datetime
    window_end: datetime
    expected: float | None = None
    expected_low: float | None = None
    expected_high: float | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    event_ids: tuple[str, ...] = ()
    service: str = ""


def poisson_surprise(count: int, expected: float) -> float:
    """``-log10 P(X >= count)`` for X ~ Poisson(expected): decades of improbability."""
    if count <= 0 or expected <= 0:
        return 0.0 if count <= 0 else ALERT_SURPRISE * 10
    log_term = count * math.log(expected) - expected - math.lgamma(count + 1)
    total, term, k = 1.0, 1.0, count
    while term > 1e-12 and k < count + 10_000:
        k += 1
        term *= expected / k
        total += term
    return max(0.0, -(log_term + math.log(total)) / math.log(10))


def _score(surprise: float) -> float:
    """The detector's squashing, so a fast-path score reads like a minute score."""
    return surprise / (surprise + SCORE_HALF)


def _dt(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class Rollups:
    """Minute rollups of the bookmark manager's events, and the anomalies found in them.

    ``clock`` (epoch seconds) decides which minutes are closed; tests inject their own to
    replay hours in seconds. Anomalies are stored, sighted in the knowledge graph and
    announced (``anomaly.detected``, after commit) by :func:`record_anomaly`.
    """

    def __init__(
        self,
        client: redis.Redis | None = None,
        *,
        clock: Callable[[], float] = time.time,
        source: str = "aiops",
        instance: str = "bookmark-monitor",
    ) -> None:
        self._client = client
        self.clock = clock
        self.source = source
        self.instance = instance
        self._last_latency_check = 0.0
        self._endpoints: dict[str, bool] = {}
        self._metrics: dict[str, bool] = {}
        self._series_ids: dict[str, int] = {}
        self._script: Any = None
        self._baseline_cache: tuple[int, float, dict[str, float], float] | None = None

    @property
    def client(self) -> redis.Redis:
        return self._client or get_redis()

    # Hot path ------------------------------------------------------------------------------

    def ingest(self, events: Iterable[Event | Mapping[str, Any]]) -> list[Anomaly]:
        """Add a batch to the minute rollups, then run the fast path; returns anomalies raised."""
        batch = _Batch()
        for event in events:
            self._observe(batch, event_record(event))
        if not batch.pending:
            return []
        self._write(batch)
        return self._fast_path(batch)

    def _observe(self, batch: _Batch, record: Mapping[str, Any]) -> None:
        kind = record["type"]
        payload = record.get("payload") or {}
        at = _timestamp(record["timestamp"])
        second = int(at)
        minute = second // MINUTE
        batch.pending[minute] += 1
        if batch.last_second is None or second > batch.last_second:
            batch.last_second = second
        user = payload.get("user_id")
        if user:
            batch.users[minute].add(str(user))
        if kind == "api.request":
            latency = float(payload.get("latency_ms", 0.0))
            error = 1.0 if int(payload.get("status", 200)) >= 500 else 0.0
            values = {"count": 1.0, "errors": error, "sum": latency, f"h{bucket_index(latency)}": 1}
            batch.add(minute, "api", values)
            endpoint = self._endpoint(str(payload.get("endpoint", "")))
            if endpoint is not None:
                batch.add(minute, f"api|{endpoint}", values)
            fast = batch.seconds[second]
            fast["api.count"] += 1
            fast["api.errors"] += error
            fast["api.sum"] += latency
            if error:
                batch.triggers["api.error_rate"].append(str(record.get("id", "")))
                batch.sources["api.error_rate"] = str(record.get("source", ""))
        elif kind in ("db.query", "bookmark.searched"):
            ms = float(payload.get("duration_ms" if kind == "db.query" else "latency_ms", 0.0))
            group = "db" if kind == "db.query" else "search"
            batch.add(minute, group, {"count": 1, "sum": ms, f"h{bucket_index(ms)}": 1})
            if kind == "bookmark.searched":
                batch.add(minute, "core", {"users.actions": 1})
        elif kind == "bookmark.created":
            batch.add(minute, "core", {"bookmarks.created": 1, "users.actions": 1})
        elif kind == "user.activity":
            batch.add(minute, "core", {"users.actions": 1})
        elif kind in ("import.started", "import.completed", "import.failed"):
            counter = "imports." + kind.removeprefix("import.")
            values = {counter: 1.0}
            if kind == "import.started":
                values["users.actions"] = 1.0
            batch.add(minute, "core", values)
            if kind == "import.failed":
                batch.seconds[second]["imports.failed"] += 1
                batch.triggers["imports.failed"].append(str(record.get("id", "")))
                batch.sources["imports.failed"] = str(record.get("source", ""))
        elif kind == "metric.sample":
            name = self._metric(payload)
            if name is not None:
                batch.add(minute, f"metric|{name}", {"count": 1, "sum": float(payload["value"])})

    def _endpoint(self, endpoint: str) -> str | None:
        """The endpoint's label, or None past ``MAX_ENDPOINTS`` (a guard on cardinality)."""
        endpoint = normalise_endpoint(endpoint)
        return endpoint if self._admit(ENDPOINTS_KEY, self._endpoints, endpoint) else None

    def _metric(self, payload: Mapping[str, Any]) -> str | None:
        labels = payload.get("labels") or {}
        name = series_name(
            f"metric.{payload.get('name')}", **{k: str(v) for k, v in labels.items()}
        )
        return name if self._admit(METRICS_KEY, self._metrics, name) else None

    def _admit(self, key: str, known: dict[str, bool], member: str) -> bool:
        """Whether a label value gets its own series; decided once per process and value."""
        if member not in known:
            limit = MAX_ENDPOINTS if key == ENDPOINTS_KEY else MAX_METRIC_SERIES
            client = self.client
            admitted = bool(client.sismember(key, member)) or client.scard(key) < limit
            if admitted:
                client.sadd(key, member)
            known[member] = admitted
        return known[member]

    def _write(self, batch: _Batch) -> None:
        """Apply the batch's sums in one round trip.

        The increments go through one small Lua script (HINCRBY / HINCRBYFLOAT per field, then
        EXPIRE per key) rather than one pipelined command each: a batch touches a hundred or
        more histogram fields, and parsing a reply per field was most of the handler's time.
        """
        keys: list[str] = []
        ttls: list[int] = []
        ops: list[str | int | float] = []
        for (minute, group), values in batch.counters.items():
            keys.append(_minute_key(minute, group))
            ttls.append(KEEP_SECONDS)
            for name, amount in values.items():
                # Counts stay integers (HINCRBY refuses a field once it holds a float).
                ops += [len(keys), "f" if name == "sum" else "i", name,
                        amount if name == "sum" else int(amount)]  # fmt: skip
        for second, values in batch.seconds.items():
            keys.append(_second_key(second))
            ttls.append(SECOND_KEY_TTL)
            for name, amount in values.items():
                ops += [len(keys), "f", name, amount]
        pipe = self.client.pipeline(transaction=False)
        self._increment(keys=keys, args=[len(keys), *ttls, *ops], client=pipe)
        groups: dict[int, list[str]] = defaultdict(list)
        for minute, group in batch.counters:
            groups[minute].append(group)
        for minute, names in groups.items():
            pipe.sadd(_groups_key(minute), *names)
            pipe.expire(_groups_key(minute), KEEP_SECONDS)
        for minute, users in batch.users.items():
            pipe.pfadd(_users_key(minute), *users)
            pipe.expire(_users_key(minute), KEEP_SECONDS)
        # Last: a minute becomes pending (or is re-dirtied) only once its data is in.
        for minute, count in batch.pending.items():
            pipe.hincrby(PENDING_KEY, str(minute), count)
        pipe.execute()

    @property
    def _increment(self) -> Any:
        if self._script is None:
            self._script = self.client.register_script(_INCREMENT)
        return self._script

    # Fast path -----------------------------------------------------------------------------

    def _fast_path(self, batch: _Batch) -> list[Anomaly]:
        now = time.monotonic()
        check_latency = now - self._last_latency_check >= LATENCY_CHECK_SECONDS
        if not batch.triggers and not check_latency:
            return []
        if check_latency:
            self._last_latency_check = now
        end = batch.last_second
        if end is None:  # cannot happen: a batch with pending minutes has seen a timestamp
            return []
        window, baseline, baseline_seconds = self._fast_counters(end)
        findings = []
        for rule in BURST_RULES:
            if rule.series in batch.triggers:
                finding = self._check_burst(rule, end, window, baseline, baseline_seconds, batch)
                if finding is not None:
                    findings.append(finding)
        if check_latency:
            finding = self._check_latency(end, window, baseline)
            if finding is not None:
                findings.append(finding)
            self._rearm_quiet_series(window, baseline)
        raised = []
        for finding in findings:
            try:
                anomaly = self._raise_if_not_cooling(finding)
            except Exception:
                # Never fail the batch for this: the mesh would retry it and count it twice.
                # The cooldown was released, so the next batch of the burst tries again.
                logger.exception("could not record a fast-path anomaly")
                continue
            if anomaly is not None:
                raised.append(anomaly)
        return raised

    def _fast_counters(self, end: int) -> tuple[dict[str, float], dict[str, float], float]:
        """Sums over the fast window, and over the baseline minutes before it (cached briefly:
        closed minutes barely change, and re-reading them for every batch was the hot path's
        largest cost). The window also keeps each second's API latency as ``per_second``."""
        start = end - FAST_WINDOW_SECONDS + 1
        fields = ["imports.failed", "api.count", "api.errors", "api.sum"]
        pipe = self.client.pipeline(transaction=False)
        for second in range(start, end + 1):
            pipe.hmget(_second_key(second), fields)
        window: dict[str, Any] = defaultdict(float)
        per_second = []
        for values in pipe.execute():
            numbers = [float(value or 0) for value in values]
            for name, number in zip(fields, numbers, strict=True):
                window[name] += number
            per_second.append((numbers[1], numbers[3]))  # (requests, latency sum)
        window["per_second"] = per_second
        baseline, seconds = self._baseline(start // MINUTE)
        return window, baseline, seconds

    def _baseline(self, first_minute: int) -> tuple[dict[str, float], float]:
        cached = self._baseline_cache
        if cached and cached[0] == first_minute and time.monotonic() - cached[1] < BASELINE_TTL:
            return cached[2], cached[3]
        pipe = self.client.pipeline(transaction=False)
        for minute in range(first_minute - BASELINE_MINUTES, first_minute):
            pipe.hget(_minute_key(minute, "core"), "imports.failed")
            pipe.hmget(_minute_key(minute, "api"), ["count", "errors", "sum"])
            pipe.exists(_groups_key(minute))
        replies = pipe.execute()
        baseline: dict[str, float] = defaultdict(float)
        observed_minutes = 0
        for failed, api, exists in zip(replies[0::3], replies[1::3], replies[2::3], strict=True):
            observed_minutes += int(bool(exists))
            baseline["imports.failed"] += float(failed or 0)
            for name, value in zip(("api.count", "api.errors", "api.sum"), api, strict=True):
                baseline[name] += float(value or 0)
        seconds = float(observed_minutes * MINUTE)
        self._baseline_cache = (first_minute, time.monotonic(), baseline, seconds)
        return baseline, seconds

    def _check_burst(
        self,
        rule: BurstRule,
        end: int,
        window: Mapping[str, float],
        baseline: Mapping[str, float],
        baseline_seconds: float,
        batch: _Batch,
    ) -> Finding | None:
        count = int(round(window[rule.count_field]))
        if count < rule.min_count:
            return None
        if rule.exposure_field is None:
            exposure_now, exposure_before = float(FAST_WINDOW_SECONDS), baseline_seconds
        else:
            exposure_now, exposure_before = (
                window[rule.exposure_field],
                baseline[rule.exposure_field],
            )
        # One event per prior_exposure at most is assumed, so an empty history is not zero.
        rate = (baseline[rule.count_field] + 1.0) / max(exposure_before, rule.prior_exposure)
        expected = rate * exposure_now
        surprise = poisson_surprise(count, expected)
        if count < rule.min_ratio * expected or surprise < ALERT_SURPRISE:
            return None
        # A share is reported as a share (5xx / requests), a count as the window's count.
        value, expected_value = float(count), expected
        if rule.exposure_field is not None:
            value, expected_value = count / exposure_now, rate
        return Finding(
            series=rule.series,
            detector=AnomalyDetector.BURST,
            score=_score(surprise),
            value=value,
            window_start=_dt(end - FAST_WINDOW_SECONDS + 1),
            window_end=_dt(end + 1),
            expected=expected_value,
            evidence={
                "count": count,
                "window_seconds": FAST_WINDOW_SECONDS,
                "exposure": exposure_now,
                "expected_count": round(expected, 4),
                "baseline_rate": rate,
                "baseline_minutes": BASELINE_MINUTES,
                "ratio": round(count / expected, 2) if expected else None,
                "surprise_decades": round(surprise, 2),
                "event_ids": batch.triggers[rule.series][-20:],
            },
            event_ids=tuple(batch.triggers[rule.series][-20:]),
            service=batch.sources.get(rule.series, ""),
        )

    def _check_latency(
        self, end: int, window: Mapping[str, float], baseline: Mapping[str, float]
    ) -> Finding | None:
        if window["api.count"] < LATENCY_MIN_WINDOW or baseline["api.count"] < LATENCY_MIN_BASELINE:
            return None
        mean_now = window["api.sum"] / window["api.count"]
        mean_before = baseline["api.sum"] / baseline["api.count"]
        if mean_before <= 0:
            return None
        ratio = mean_now / mean_before
        sustained = sustained_seconds(window.get("per_second", ()), mean_before)
        if ratio >= LATENCY_RATIO:
            threshold = LATENCY_RATIO  # a jump
        elif ratio >= SUSTAINED_RATIO and sustained >= SUSTAINED_SECONDS:
            threshold = SUSTAINED_RATIO  # a creep: smaller, but second after second
        else:
            return None
        # Scaled so the threshold ratio scores exactly ALERT_SCORE.
        surprise = ALERT_SURPRISE * math.log(ratio) / math.log(threshold)
        return Finding(
            series=LATENCY_SERIES,
            detector=AnomalyDetector.BURST,
            score=_score(surprise),
            value=mean_now,
            window_start=_dt(end - FAST_WINDOW_SECONDS + 1),
            window_end=_dt(end + 1),
            expected=mean_before,
            evidence={
                "requests": window["api.count"],
                "window_seconds": FAST_WINDOW_SECONDS,
                "baseline_mean_ms": mean_before,
                "baseline_requests": baseline["api.count"],
                "ratio": round(ratio, 2),
                "seconds_above": sustained,
                "kind": "jump" if threshold == LATENCY_RATIO else "sustained",
            },
        )

    # Finalisation --------------------------------------------------------------------------

    def pending_minutes(self) -> list[int]:
        return sorted(int(m) for m in self.client.hkeys(PENDING_KEY))

    def finalise(self, now: float | None = None) -> list[int]:
        """Store every closed minute as metric points and run detection; returns the minutes.

        Safe to call from every worker at once: one holds the lease and does the work.
        """
        now = self.clock() if now is None else now
        client = self.client
        closed = [m for m in self.pending_minutes() if (m + 1) * MINUTE + GRACE_SECONDS <= now]
        if not closed:
            return []
        token = uuid.uuid4().hex
        if not client.set(LEASE_KEY, token, nx=True, px=FINALISE_LEASE_MS):
            return []
        done = []
        try:
            for minute in closed:
                version = client.hget(PENDING_KEY, str(minute))
                if version is None:  # finalised by the previous lease holder meanwhile
                    continue
                self._finalise_minute(minute)
                client.eval(_CAS_DELETE, 1, PENDING_KEY, str(minute), version)
                done.append(minute)
                if not client.eval(_EXTEND_IF_OWNER, 1, LEASE_KEY, token, FINALISE_LEASE_MS):
                    logger.warning("finalisation lease lost", extra={"minute": minute})
                    break
        finally:
            client.eval(_RELEASE_IF_OWNER, 1, LEASE_KEY, token)
        return done

    def minute_values(self, minute: int) -> dict[str, tuple[float, str, str, float]]:
        """Series name -> (value, kind, unit, samples) for one minute, from the Redis hashes."""
        client = self.client
        groups = sorted(g.decode() for g in client.smembers(_groups_key(minute)))
        pipe = client.pipeline(transaction=False)
        for group in groups:
            pipe.hgetall(_minute_key(minute, group))
        pipe.pfcount(_users_key(minute))
        *hashes, active = pipe.execute()
        values: dict[str, tuple[float, str, str, float]] = {}
        data = {
            group: {k.decode(): float(v) for k, v in raw.items()}
            for group, raw in zip(groups, hashes, strict=True)
        }
        core = data.get("core", {})
        for name in (
            "bookmarks.created",
            "imports.started",
            "imports.completed",
            "imports.failed",
            "users.actions",
        ):
            values[name] = (core.get(name, 0.0), MetricKind.COUNT, "count", 1.0)
        finished = core.get("imports.completed", 0.0) + core.get("imports.failed", 0.0)
        if finished:
            rate = core.get("imports.failed", 0.0) / finished
            values["imports.failure_rate"] = (rate, MetricKind.RATIO, "ratio", finished)
        values["users.active"] = (float(active), MetricKind.COUNT, "users", 1.0)
        values["api.requests"] = (0.0, MetricKind.COUNT, "count", 1.0)
        for group, fields in data.items():
            if group in ("api", "db", "search") or group.startswith("api|"):
                values.update(self._latency_values(group, fields))
            elif group.startswith("metric|"):
                name = group.removeprefix("metric|")
                count = fields.get("count", 0.0)
                if count:
                    values[name] = (fields.get("sum", 0.0) / count, MetricKind.GAUGE, "", count)
        return values

    @staticmethod
    def _latency_values(
        group: str, fields: Mapping[str, float]
    ) -> dict[str, tuple[float, str, str, float]]:
        family, _, endpoint = group.partition("|")
        labels = {"endpoint": endpoint} if endpoint else {}
        count = fields.get("count", 0.0)
        histogram = {int(k[1:]): v for k, v in fields.items() if k.startswith("h")}
        stem = {"api": "api.latency", "db": "db.query", "search": "search.latency"}[family]
        counted = {"api": "api.requests", "db": "db.queries", "search": "search.requests"}[family]
        out = {series_name(counted, **labels): (count, MetricKind.COUNT, "count", 1.0)}
        if not count:
            return out
        for suffix, q in PERCENTILES:
            value = percentile(histogram, q)
            if value is not None:
                out[series_name(f"{stem}_{suffix}", **labels)] = (
                    value, MetricKind.LATENCY, "ms", count,
                )  # fmt: skip
        if family == "api":
            mean = fields.get("sum", 0.0) / count
            out[series_name("api.latency_mean", **labels)] = (mean, MetricKind.LATENCY, "ms", count)
            share = fields.get("errors", 0.0) / count
            out[series_name("api.error_rate", **labels)] = (share, MetricKind.RATIO, "ratio", count)
        return out

    def _finalise_minute(self, minute: int) -> None:
        values = self.minute_values(minute)
        at = _dt(minute * MINUTE)
        ids = self._ensure_series(
            {name: (kind, unit) for name, (_, kind, unit, _) in values.items()}
        )
        MetricPoint.objects.bulk_create(
            [MetricPoint(series_id=ids[name], minute=at, value=v[0]) for name, v in values.items()],
            update_conflicts=True,
            unique_fields=["series", "minute"],
            update_fields=["value"],
        )
        findings, states = self._detect(minute, values)
        for finding in findings:
            self._raise_if_not_cooling(finding)
        # Saved last: if recording failed, the minute is retried and judged again.
        if states:
            self.client.hset(DETECTORS_KEY, mapping=states)

    def _ensure_series(self, wanted: Mapping[str, tuple[str, str]]) -> dict[str, int]:
        missing = [name for name in wanted if name not in self._series_ids]
        if missing:
            MetricSeries.objects.bulk_create(
                [MetricSeries(name=n, kind=wanted[n][0], unit=wanted[n][1]) for n in missing],
                ignore_conflicts=True,
            )
            found = MetricSeries.objects.filter(name__in=missing).values_list("name", "pk")
            self._series_ids.update(dict(found))
        return self._series_ids

    # Minute detection ----------------------------------------------------------------------

    def _detect(
        self, minute: int, values: Mapping[str, tuple[float, str, str, float]]
    ) -> tuple[list[Finding], dict[str, str]]:
        """Feed each series' detector its point (once per minute): findings and new states."""
        names = sorted(values)
        states = self.client.hmget(DETECTORS_KEY, names)
        updated: dict[str, str] = {}
        findings = []
        for name, raw in zip(names, states, strict=True):
            value, kind, _, samples = values[name]
            state = json.loads(raw) if raw else None
            if state is not None and state["last"] >= minute:
                continue  # re-finalised after a late event: the detector already saw it
            detector = (
                StreamingDetector.from_state(state["detector"]) if state else StreamingDetector()
            )
            recent = state["recent"] if state else []
            if samples < min_samples(name, kind):
                # Too few samples to judge; the state advances to keep minutes in order.
                updated[name] = json.dumps({"detector": detector.to_state(), "last": minute,
                                            "recent": recent})  # fmt: skip
                continue
            score = detector.update(value, _dt(minute * MINUTE))
            finding = self._judge(name, kind, minute, value, score, recent)
            if finding is not None:
                findings.append(finding)
            recent = [*recent, [minute, value]][-RECENT_POINTS:]
            updated[name] = json.dumps(
                {"detector": detector.to_state(), "last": minute, "recent": recent}
            )
        return findings, updated

    @staticmethod
    def expected_range(kind: str, recent: list[list[float]]) -> tuple[float, float, float] | None:
        """(median, low, high) of the recent points: robust, with a floor on the spread.

        The detector alone is tuned for NAB's long series; this second condition keeps a small
        count (2 failures instead of 0) from paging anybody.
        """
        if len(recent) < MIN_RECENT_POINTS:
            return None
        points = sorted(v for _, v in recent)
        median = points[len(points) // 2]
        mad = sorted(abs(v - median) for v in points)[len(points) // 2]
        sigma = 1.4826 * mad
        if kind == MetricKind.COUNT:
            sigma = max(sigma, math.sqrt(max(median, 1.0)))  # Poisson noise at least
        else:
            sigma = max(sigma, 0.05 * abs(median), 1e-3 if kind == MetricKind.RATIO else 0.1)
        return median, median - RANGE_SIGMAS * sigma, median + RANGE_SIGMAS * sigma

    def _judge(
        self, name: str, kind: str, minute: int, value: float, score: float, recent: list
    ) -> Finding | None:
        if score < ALERT_SCORE:
            return None
        expected = self.expected_range(kind, recent)
        if expected is None or expected[1] <= value <= expected[2]:
            return None
        median, low, high = expected
        evidence = [
            {"minute": _dt(m * MINUTE).isoformat(), "value": v}
            for m, v in recent[-EVIDENCE_POINTS:]
        ]
        evidence.append({"minute": _dt(minute * MINUTE).isoformat(), "value": value})
        return Finding(
            series=name,
            detector=AnomalyDetector.MINUTE,
            score=score,
            value=value,
            window_start=_dt(minute * MINUTE),
            window_end=_dt((minute + 1) * MINUTE),
            expected=median,
            expected_low=low,
            expected_high=high,
            evidence={"points": evidence},
        )

    def _rearm_quiet_series(self, window: Mapping[str, Any], baseline: Mapping[str, float]) -> None:
        """End a fast-path cooldown early once its series is back to normal: the cooldown
        makes one burst one anomaly, but the next incident, a minute later, must be seen."""
        quiet = [rule.series for rule in BURST_RULES if window[rule.count_field] < rule.min_count]
        if window["api.count"] >= LATENCY_MIN_WINDOW and baseline["api.count"] > 0:
            mean_before = baseline["api.sum"] / baseline["api.count"]
            if window["api.sum"] / window["api.count"] < SUSTAINED_RATIO * mean_before:
                quiet.append(LATENCY_SERIES)
        if not quiet:
            return
        keys = [f"{PREFIX}:cooldown:{series}" for series in quiet]
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.get(key)
            pipe.ttl(key)
        replies = pipe.execute()
        stale = [
            key
            for key, detector, ttl in zip(keys, replies[0::2], replies[1::2], strict=True)
            # Only the fast path's own cooldowns, and only after REARM_AFTER_SECONDS.
            if detector == AnomalyDetector.BURST.encode()
            and 0 <= ttl <= COOLDOWN_SECONDS - REARM_AFTER_SECONDS
        ]
        if stale:
            self.client.delete(*stale)

    # Recording -----------------------------------------------------------------------------

    def _raise_if_not_cooling(self, finding: Finding) -> Anomaly | None:
        """One anomaly per series per cooldown, across workers and both detectors."""
        cooldown = f"{PREFIX}:cooldown:{finding.series}"
        if not self.client.set(cooldown, finding.detector, nx=True, ex=COOLDOWN_SECONDS):
            return None
        try:
            return record_anomaly(finding, source=self.source, instance=self.instance)
        except Exception:
            self.client.delete(cooldown)  # let the next batch try again
            raise


def record_anomaly(finding: Finding, *, source: str = "aiops", instance: str = "") -> Anomaly:
    """Store the Anomaly and its Problem sighting in one transaction; announce it on commit."""
    from knowledge.services import record_sighting  # knowledge imports agents: import late

    category = category_for(finding.series)
    severity = severity_for(category, finding.score)
    with transaction.atomic():
        anomaly, created = Anomaly.objects.get_or_create(
            series=finding.series,
            detector=finding.detector,
            window_start=finding.window_start,
            defaults={
                "category": category,
                "severity": severity,
                "score": finding.score,
                "value": finding.value,
                "expected": finding.expected,
                "expected_low": finding.expected_low,
                "expected_high": finding.expected_high,
                "window_end": finding.window_end,
                "evidence": finding.evidence,
            },
        )
        if not created:
            return anomaly
        problem = record_sighting(
            problem_message(finding.series),
            service=finding.service,
            instance=instance,
            event_ids=finding.event_ids,
            at=finding.window_end,
            category=category,
            severity=severity,
        )
        anomaly.problem = problem
        anomaly.save(update_fields=["problem"])
        event = anomaly_event(anomaly, source=source, instance=instance)
        transaction.on_commit(lambda: _publish(event))
    logger.warning(
        "anomaly detected",
        extra={"series": finding.series, "score": finding.score, "detector": finding.detector},
    )
    return anomaly


def anomaly_event(anomaly: Anomaly, *, source: str, instance: str) -> Event:
    return Event(
        type="anomaly.detected",
        source=source,
        instance=instance,
        severity=anomaly.severity,
        payload={
            "anomaly_id": anomaly.pk,
            "series": anomaly.series,
            "detector": anomaly.detector,
            "category": anomaly.category,
            "score": anomaly.score,
            "value": anomaly.value,
            "expected": anomaly.expected,
            "expected_range": [anomaly.expected_low, anomaly.expected_high],
            "window_start": anomaly.window_start.isoformat(),
            "window_end": anomaly.window_end.isoformat(),
            "evidence": anomaly.evidence,
            "problem_id": anomaly.problem_id,
        },
    )


def _publish(event: Event) -> None:
    # After commit: the row is stored whatever Redis does; an outage is logged, not raised.
    try:
        mesh.publish(event)
    except Exception:
        logger.exception("could not publish anomaly.detected")


# --- Reading --------------------------------------------------------------------------------


def activity_by_hour_of_week(
    series: str = "users.actions", since: datetime | None = None
) -> dict[tuple[int, int], float]:
    """Total of a series by (ISO weekday 1-7, hour 0-23) in UTC: peak usage by hour of week."""
    points = MetricPoint.objects.filter(series__name=series)
    if since is not None:
        points = points.filter(minute__gte=since)
    rows = (
        points.annotate(dow=ExtractIsoWeekDay("minute"), hour=ExtractHour("minute"))
        .values("dow", "hour")
        .annotate(total=Sum("value"))
    )
    return {(row["dow"], row["hour"]): row["total"] for row in rows}


def series_points(name: str, since: datetime | None = None) -> list[tuple[datetime, float]]:
    """A series' points, oldest first (for charts)."""
    points = MetricPoint.objects.filter(series__name=name)
    if since is not None:
        points = points.filter(minute__gte=since)
    return list(points.order_by("minute").values_list("minute", "value"))


__all__ = [
    "MONITORED_TYPES",
    "PERCENTILE_ERROR",
    "Finding",
    "Rollups",
    "activity_by_hour_of_week",
    "bucket_index",
    "bucket_value",
    "category_for",
    "percentile",
    "record_anomaly",
    "series_name",
    "series_points",
]
