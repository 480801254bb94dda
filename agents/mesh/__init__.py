"""The event mesh on Redis Streams: publish, consume through groups, reclaim, dead-letter, replay.

One stream per event type (``events:<type>``); each agent reads through its own consumer
group. Delivery is at-least-once and handling idempotent in effect:

* an entry is acknowledged only after its handler returned (its effects are stored); the
  mark-done and XACK ride in front of the next read (or go out on ``flush()``/stop), so a
  batch costs two round trips: read, then ask the done sets;
* an event id already handled by a group is skipped (a per-group "done" set, bucketed by the
  hour the ULID was minted in, expiring after the retention window);
* entries left pending by a dead consumer are reclaimed after ``MESH_CLAIM_IDLE_MS``;
* a failing batch is retried event by event, so one poisoned event never blocks the rest;
  an entry delivered ``MESH_MAX_DELIVERIES`` times without success moves to ``events:dead``
  with its last error, and :func:`redrive_dead_letters` puts it back;
* a batch that fails because a store is down (PostgreSQL or Redis unreachable, see
  :func:`is_outage`) is not the events' fault: nothing is counted against them, the
  consumer stops taking new entries (:class:`BackendUnavailable`) and, once its ``ready``
  probe answers, re-reads its own pending entries in whole batches, so a backlog drains at
  normal throughput instead of through the idle-claim path a batch every few seconds.

Handlers that write to PostgreSQL should also key their effects by event id (a unique
constraint): the done set makes redelivery rare, the constraint makes it harmless.
"""

from agents.mesh.consumer import StreamConsumer
from agents.mesh.dead_letters import DeadLetter, dead_letters, redrive_dead_letters
from agents.mesh.publishing import known_streams, publish, publish_many, publish_on_commit
from agents.mesh.retention import pending_by_group, replay, stream_id_for, trim_streams
from agents.mesh.wire import (
    DEAD_LETTER_STREAM,
    EVENT_FIELD,
    ID_FIELD,
    STREAM_INDEX_KEY,
    STREAM_PREFIX,
    BackendUnavailable,
    BatchHandler,
    Delivery,
    default_consumer_name,
    is_outage,
)

__all__ = [
    "DEAD_LETTER_STREAM",
    "EVENT_FIELD",
    "ID_FIELD",
    "STREAM_INDEX_KEY",
    "STREAM_PREFIX",
    "BackendUnavailable",
    "BatchHandler",
    "DeadLetter",
    "Delivery",
    "StreamConsumer",
    "dead_letters",
    "default_consumer_name",
    "is_outage",
    "known_streams",
    "pending_by_group",
    "publish",
    "publish_many",
    "publish_on_commit",
    "redrive_dead_letters",
    "replay",
    "stream_id_for",
    "trim_streams",
]
