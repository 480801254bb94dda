"""Mesh gauges refreshed at scrape time: consumer lag per group and dead letters waiting.

Counters and histograms are updated where things happen (``agents/mesh.py``). Lag is a
property of Redis, not of any one process, so it is read when Prometheus scrapes.
``mostrecent`` keeps one value across processes in multiprocess mode (see README).
"""

from __future__ import annotations

import redis
from prometheus_client import Gauge

from agents import mesh
from core.redis import get_redis

STREAM_PENDING = Gauge(
    "ai_ops_stream_pending",
    "Entries delivered to a consumer group and not yet acknowledged",
    ["stream", "group"],
    multiprocess_mode="mostrecent",
)
STREAM_LENGTH = Gauge(
    "ai_ops_stream_length",
    "Entries kept in a stream (after retention trimming)",
    ["stream"],
    multiprocess_mode="mostrecent",
)
DEAD_LETTERS_WAITING = Gauge(
    "ai_ops_dead_letters_waiting",
    "Entries in events:dead waiting to be re-driven",
    multiprocess_mode="mostrecent",
)


def refresh_mesh_gauges() -> None:
    client = get_redis()
    try:
        for (stream, group), pending in mesh.pending_by_group(client).items():
            STREAM_PENDING.labels(stream, group).set(pending)
        pipe = client.pipeline(transaction=False)
        streams = mesh.known_streams(client)
        for stream in streams:
            pipe.xlen(stream)
        pipe.xlen(mesh.DEAD_LETTER_STREAM)
        *lengths, dead = pipe.execute()
    except redis.RedisError:
        return  # /health reports Redis; metrics stay at their last values
    for stream, length in zip(streams, lengths, strict=True):
        STREAM_LENGTH.labels(stream).set(length)
    DEAD_LETTERS_WAITING.set(dead)
