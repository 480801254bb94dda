"""Latency histograms: fixed log-spaced buckets, so histograms from many workers add up.

Sorted samples cannot be summed across workers; bucket counts can. Buckets are
``BUCKET_GROWTH`` apart, so any percentile read from them is known within
``PERCENTILE_ERROR``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

#: Latency histogram: bucket 0 holds <= BUCKET_BASE_MS, bucket i (BASE*G^(i-1), BASE*G^i].
BUCKET_BASE_MS = 0.1
BUCKET_GROWTH = 1.15
MAX_BUCKET = 250  # 0.1 ms * 1.15^250: about 1.5e14 ms, past any real latency
#: A percentile read at a bucket's geometric midpoint is off by at most this fraction.
PERCENTILE_ERROR = math.sqrt(BUCKET_GROWTH) - 1
PERCENTILES: tuple[tuple[str, float], ...] = (("p50", 0.50), ("p95", 0.95), ("p99", 0.99))


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
