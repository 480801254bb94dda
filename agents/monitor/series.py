"""What the monitor's series are called, what a minute's hashes say about them, how to judge them.

One name per series (labels sorted), ids collapsed out of endpoints so paths do not explode
the series count, and per series family: the knowledge-graph category, the severity, the
problem message and the samples a minute needs before it may be judged.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping

from agents.models import MetricKind
from agents.monitor.histogram import PERCENTILES, percentile
from aiops_sdk.paths import ID, is_id

#: Per-endpoint series are kept for this many endpoints; the rest count in the overall series.
MAX_ENDPOINTS = 50
MAX_METRIC_SERIES = 200

#: A mean or ratio over fewer samples than this is charted but not judged; a percentile
#: needs MIN_TAIL_SAMPLES above it (p99: 500 samples), or it is only the noisy maximum.
MIN_SAMPLES_TO_JUDGE = 20
MIN_TAIL_SAMPLES = 5

#: Series name -> (value, kind, unit, samples) for one minute.
SeriesValues = dict[str, tuple[float, str, str, float]]

#: Category and severity of an anomaly by series family (first matching prefix wins).
_CATEGORIES: tuple[tuple[str, str], ...] = (
    ("imports.", "import"),
    ("api.error_rate", "availability"),
    ("api.requests", "capacity"),
    ("api.throughput", "availability"),  # fewer requests finishing: something hangs
    ("api.latency", "performance"),
    ("db.", "performance"),
    ("search.latency", "performance"),
    ("search.", "capacity"),
    ("bookmarks.", "data-integrity"),
    ("users.", "capacity"),
)
_CORE_COUNTS = (
    "bookmarks.created",
    "imports.started",
    "imports.completed",
    "imports.failed",
    "users.actions",
)


def series_name(base: str, **labels: str) -> str:
    """``api.latency_p95{endpoint=/api/bookmarks}``: labels sorted, so one name per series."""
    if not labels:
        return base
    inner = ",".join(f"{key}={value}" for key, value in sorted(labels.items()))
    return f"{base}{{{inner}}}"


def series_base(name: str) -> str:
    return name.partition("{")[0]


@functools.lru_cache(maxsize=4096)  # per api.request on the writer's hot path; labels repeat
def normalise_endpoint(endpoint: str) -> str:
    """Collapse ids in paths (``/api/bookmarks/42`` -> ``/api/bookmarks/{id}``), for senders
    that report raw paths. What an id looks like is the SDK's rule (``aiops_sdk.paths``), so
    a path the SDK labelled and one posted raw become the same series."""
    path = endpoint.split("?", 1)[0] or "/"
    segments = (ID if is_id(segment) else segment for segment in path.split("/"))
    return "/".join(segments)[:150]


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


def min_samples(name: str, kind: str) -> float:
    """Samples a minute's value needs before the detector may judge it."""
    if kind == MetricKind.COUNT:
        return 0.0
    for suffix, q in PERCENTILES:
        if series_base(name).endswith("_" + suffix):
            return math.ceil(MIN_TAIL_SAMPLES / (1.0 - q))
    return MIN_SAMPLES_TO_JUDGE


def minute_series(data: Mapping[str, Mapping[str, float]], active_users: int) -> SeriesValues:
    """Every series' value for one minute, from its per-group hashes and its user count."""
    core = data.get("core", {})
    values: SeriesValues = {
        name: (core.get(name, 0.0), MetricKind.COUNT, "count", 1.0) for name in _CORE_COUNTS
    }
    finished = core.get("imports.completed", 0.0) + core.get("imports.failed", 0.0)
    if finished:
        rate = core.get("imports.failed", 0.0) / finished
        values["imports.failure_rate"] = (rate, MetricKind.RATIO, "ratio", finished)
    values["users.active"] = (float(active_users), MetricKind.COUNT, "users", 1.0)
    values["api.requests"] = (0.0, MetricKind.COUNT, "count", 1.0)
    for group, fields in data.items():
        if group in ("api", "db", "search") or group.startswith("api|"):
            values.update(latency_series(group, fields))
        elif group.startswith("metric|"):
            name = group.removeprefix("metric|")
            count = fields.get("count", 0.0)
            if count:
                values[name] = (fields.get("sum", 0.0) / count, MetricKind.GAUGE, "", count)
    return values


def latency_series(group: str, fields: Mapping[str, float]) -> SeriesValues:
    """The count, percentiles (and for the API: mean and error share) of a latency group."""
    family, _, endpoint = group.partition("|")
    labels = {"endpoint": endpoint} if endpoint else {}
    count = fields.get("count", 0.0)
    histogram = {int(k[1:]): v for k, v in fields.items() if k.startswith("h")}
    stem = {"api": "api.latency", "db": "db.query", "search": "search.latency"}[family]
    counted = {"api": "api.requests", "db": "db.queries", "search": "search.requests"}[family]
    out: SeriesValues = {series_name(counted, **labels): (count, MetricKind.COUNT, "count", 1.0)}
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
