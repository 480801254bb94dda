"""HTM-style anomaly likelihood of a stream of prediction errors (the detector's error views).

Pure Python, O(1) per update; split from :mod:`.detector` so each view's statistics live
in one small class.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

#: Minimum number of short-window means before a likelihood is trusted.
MIN_LIKELIHOOD = 50
#: Surprise cap: -log10 of the smallest representable tail probability we bother with.
MAX_DECADES = 300.0

_SQRT2 = math.sqrt(2.0)


def gaussian_surprise(z: float) -> float:
    """``-log10`` of the upper Gaussian tail probability of ``z`` (0 for z <= 0)."""
    if z <= 0.0:
        return 0.0
    p = 0.5 * math.erfc(z / _SQRT2)
    if p <= 0.0:
        # erfc underflows beyond z ~ 38; use the asymptotic log tail instead.
        return min(MAX_DECADES, (z * z / 2.0 + math.log(z * math.sqrt(2.0 * math.pi))) / 2.302585)
    return min(MAX_DECADES, -math.log10(p))


class ErrorLikelihood:
    """HTM-style anomaly likelihood of a stream of non-negative prediction errors.

    The mean error over the last ``short`` points is compared with an exponentially weighted
    estimate of the mean and variance of that same short-window mean.  Exponential weighting
    (instead of HTM's sliding window) keeps the state O(1) while following slow drift.
    """

    __slots__ = ("short", "alpha", "errors", "total", "count", "mean", "var")

    def __init__(self, short: int, long: int) -> None:
        self.short = short
        self.alpha = 1.0 / long
        self.errors: deque[float] = deque()
        self.total = 0.0
        self.count = 0
        self.mean = 0.0
        self.var = 0.0

    def update(self, error: float) -> float:
        """Add one error; return the surprise of the current short-window mean."""
        self.errors.append(error)
        self.total += error
        if len(self.errors) > self.short:
            self.total -= self.errors.popleft()
        m = max(self.total / len(self.errors), 0.0)
        surprise = 0.0
        if self.count >= MIN_LIKELIHOOD:
            sd = math.sqrt(self.var)
            floor = 1e-3 * abs(self.mean) + 1e-12
            surprise = gaussian_surprise((m - self.mean) / max(sd, floor))
        # Running mean/variance: exact averages while young, exponential forgetting after.
        self.count += 1
        a = max(self.alpha, 1.0 / self.count)
        d = m - self.mean
        self.mean += a * d
        self.var = (1.0 - a) * (self.var + a * d * d)
        return surprise

    def to_state(self) -> dict[str, Any]:
        return {
            "errors": list(self.errors),
            "total": self.total,
            "count": self.count,
            "mean": self.mean,
            "var": self.var,
        }

    def load(self, state: dict[str, Any]) -> None:
        self.errors = deque(float(e) for e in state["errors"])
        self.total = float(state["total"])
        self.count = int(state["count"])
        self.mean = float(state["mean"])
        self.var = float(state["var"])
