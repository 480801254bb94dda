"""How the favicon fetcher's upstream answers: an icon, or a rate limit while it fails."""

from __future__ import annotations

from typing import TYPE_CHECKING

from simulator.deployment import Outcome, lognormal

if TYPE_CHECKING:  # the world composes these models; they read its state
    from simulator.world import World

FAVICON_FAILURES = ((429, "Too Many Requests"), (502, "Bad Gateway"), (503, "Service Unavailable"))


class FaviconUpstream:
    def __init__(self, world: World) -> None:
        self.world = world

    def fetch(self, host: str, now: float) -> Outcome | None:
        """None when fetching is paused by its feature flag."""
        w = self.world
        if not w.flags["favicon_fetch"]:
            return None
        novel = w.novel.favicon_failure(host, now)
        if novel is not None:
            return novel
        if w.favicon_upstream_failing:
            code, reason = w.random.choice(FAVICON_FAILURES)
            return w.signal_log.error(
                "favicon-fetcher", "favicon_rate_limited", now, status=code,
                latency_ms=lognormal(w.random, 300),
                text=f"HTTP {code} {reason} fetching https://{host}/favicon.ico "
                f"(Retry-After: {w.random.choice((60, 120, 300))})",
            )  # fmt: skip
        return Outcome(latency_ms=lognormal(w.random, 120))
