"""The error signals each service showed in the last minute: what the control API's health
report counts, and how every behaviour model reports an error it produced."""

from __future__ import annotations

from collections import deque

from simulator.deployment import SERVICES, SIGNAL_WINDOW_S, Outcome


class SignalLog:
    """Errors by service and signal, forgotten once older than the window. Not locked: the
    world calls it under its own lock."""

    def __init__(self) -> None:
        self._seen: dict[str, deque[tuple[float, str]]] = {s: deque() for s in SERVICES}

    def record(self, service: str, signal: str, now: float) -> None:
        self._seen[service].append((now, signal))

    def error(
        self, service: str, signal: str, now: float, *, status: int, latency_ms: float, text: str
    ) -> Outcome:
        """Record the signal and return the failed outcome that carries its log line."""
        self.record(service, signal, now)
        return Outcome(status=status, latency_ms=latency_ms, errors=[(service, signal, text)])

    def counts(self, service: str | None, now: float) -> dict[str, int]:
        """Errors by signal in the last minute, for one service or all of them."""
        counts: dict[str, int] = {}
        for name, seen in self._seen.items():
            while seen and seen[0][0] < now - SIGNAL_WINDOW_S:
                seen.popleft()
            if service is None or name == service:
                for _, signal in seen:
                    counts[signal] = counts.get(signal, 0) + 1
        return counts
