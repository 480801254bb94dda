"""Remediation's Prometheus metrics, observed by the engine when a run is verified.

``ai_ops_solution_latency`` is the plan's "incident detected -> fix verified": from the
diagnosis's creation (when the incident was recognised) to the moment verification found the
triggering signal recovered. Dry runs fix nothing, so they are not observed.
"""

from __future__ import annotations

from datetime import datetime

from prometheus_client import Counter, Histogram

SOLUTION_LATENCY = Histogram(
    "ai_ops_solution_latency",
    "Seconds from incident detected (diagnosis created) to fix verified",
    buckets=(5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 21600),
)
RUNS_VERIFIED = Counter(
    "ai_ops_remediation_verified",
    "Remediation runs whose verification finished, by outcome (succeeded/failed)",
    ["outcome"],
)

INCIDENTS_QUIET = Counter(
    "ai_ops_incidents_quiet",
    "Open incidents whose symptom stopped for the quiet period, by outcome "
    "(resolved / left_acknowledged: a person acknowledged it, so it was only noted)",
    ["outcome"],
)


def observe_verified(
    *, succeeded: bool, dry_run: bool, detected_at: datetime, now: datetime
) -> None:
    RUNS_VERIFIED.labels("succeeded" if succeeded else "failed").inc()
    if succeeded and not dry_run:
        SOLUTION_LATENCY.observe(max(0.0, (now - detected_at).total_seconds()))
