"""The universal agent base and its runtime inside Celery workers.

An agent declares its name, kind, version, the event types it subscribes to, a batch
handler and an optional periodic tick. :func:`register_agent` puts it in
the one registry. Each Celery worker runs every enabled agent in a thread of its main
process (a worker bootstep, ``agents/celery_steps.py``): the thread is one member of the
agent's consumer group, so starting more workers on more machines adds members and
throughput, and a dead worker's pending entries are reclaimed by the others (the mesh's
guarantees, ``docs/events.md``). Celery beat drives the ticks (``agents.tasks.tick_agent``)
and the watchdog that marks silent agents down (``agents.tasks.check_agents``).

Heartbeats come from the consumer loop itself, between polls: an agent whose handler hangs
stops beating and is shown down, which a separate heartbeat thread would hide.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from datetime import timedelta
from importlib import import_module
from typing import Any, ClassVar

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection
from django.db.models import F
from django.utils import timezone
from prometheus_client import Counter, Gauge

from agents import mesh
from agents.events import Event, Severity, stream_name, system_event
from agents.heartbeats import record_heartbeat
from agents.mesh import Delivery, StreamConsumer
from agents.models import Agent, AgentStatus
from agents.system_events import AgentDown, AgentHeartbeat, AgentStatusChanged, SystemPayload
from core.redis import get_redis

logger = logging.getLogger(__name__)

AGENT_UP = Gauge(
    "ai_ops_agent_up", "1 while the agent's loop runs in this process", ["agent"],
    multiprocess_mode="livemax",
)  # fmt: skip
AGENT_ERRORS = Counter("ai_ops_agent_errors", "Handler and tick failures", ["agent"])

_REGISTRY: dict[str, type[BaseAgent]] = {}


class BaseAgent:
    """Subclass, set the class attributes, implement :meth:`handle` and maybe :meth:`tick`."""

    name: ClassVar[str]
    kind: ClassVar[str]
    version: ClassVar[str] = "1"
    description: ClassVar[str] = ""
    subscribes: ClassVar[tuple[str, ...]] = ()
    tick_seconds: ClassVar[float | None] = None  # beat calls tick() this often when set
    batch_size: ClassVar[int | None] = None

    def __init__(self) -> None:
        self.activity = "idle"

    # What an agent implements -----------------------------------------------------------

    def handle(self, deliveries: list[Delivery]) -> None:
        """Store the effects of a batch. Raise to have the batch retried event by event."""

    def tick(self) -> None:
        """Periodic work (learning, rollups, watchdogs)."""

    def health(self) -> dict[str, Any]:
        """Agent-specific health details shown beside its status."""
        return {}

    # Emitting the system's own events -----------------------------------------------------

    def emit(
        self, event_type: str, payload: SystemPayload, *, severity: Severity = "info"
    ) -> Event:
        """Announce a status event from this agent (after commit, when inside a transaction)."""
        event = system_event(event_type, payload, instance=self.name, severity=severity)
        mesh.publish_on_commit(event)
        return event


def register_agent(cls: type[BaseAgent]) -> type[BaseAgent]:
    """Class decorator: the one place agents are made known to the runtime."""
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"two agents are named {cls.name!r}")
    _REGISTRY[cls.name] = cls
    return cls


def registered_agents() -> dict[str, type[BaseAgent]]:
    """Every agent of the modules in ``AGENT_MODULES`` (importing a module registers them)."""
    for module in settings.AGENT_MODULES:
        import_module(module)
    return dict(_REGISTRY)


def get_agent_class(name: str) -> type[BaseAgent]:
    return registered_agents()[name]


def sync_agent_rows() -> list[Agent]:
    """Make sure every registered agent has its row (kind, version, subscriptions current)."""
    rows = []
    for cls in registered_agents().values():
        row, _ = Agent.objects.update_or_create(
            name=cls.name,
            defaults={
                "kind": cls.kind,
                "version": cls.version,
                "description": cls.description,
                "subscribes": list(cls.subscribes),
            },
        )
        rows.append(row)
    return rows


# --- Running one agent in a worker ------------------------------------------------------------


OUTAGE_MAX_WAIT_SECONDS = 2.0


def database_ready() -> bool:
    """Whether PostgreSQL answers (a fresh connection if the old one broke)."""
    try:
        connection.close_if_unusable_or_obsolete()
        connection.ensure_connection()
        return connection.is_usable()
    except DatabaseError:
        return False


class AgentRunner:
    """One agent's consumer loop in a worker thread: poll, handle, beat, obey the switch."""

    ENABLED_CHECK_SECONDS = 2.0

    def __init__(self, agent: BaseAgent, *, consumer: str | None = None) -> None:
        self.agent = agent
        self.consumer_name = consumer or mesh.default_consumer_name()
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None
        self._processed = 0
        self._errors = 0
        self._last_error = ""
        self._enabled = True
        self._last_enabled_check = 0.0
        self._last_beat = 0.0
        self.consumer = StreamConsumer(
            agent.name,
            [stream_name(t) for t in agent.subscribes],
            self._handle,
            consumer=self.consumer_name,
            batch_size=agent.batch_size,
            ready=database_ready,
        )

    def _handle(self, deliveries: list[Delivery]) -> None:
        self.agent.activity = f"handling {len(deliveries)} events"
        try:
            self.agent.handle(deliveries)
        except Exception as exc:
            self._errors += 1
            self._last_error = f"{type(exc).__name__}: {exc}"[:1000]
            AGENT_ERRORS.labels(self.agent.name).inc()
            raise
        finally:
            self.agent.activity = "idle"
        self._processed += len(deliveries)

    def start(self) -> None:
        self.thread = threading.Thread(
            target=self.run, name=f"agent-{self.agent.name}", daemon=True
        )
        self.thread.start()

    def stop(self, timeout: float = 10) -> None:
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(timeout)

    def run(self) -> None:
        AGENT_UP.labels(self.agent.name).set(1)
        outage_wait = 0.0
        try:
            while not self.stop_event.is_set():
                try:
                    self.run_once()
                    outage_wait = 0.0
                except Exception as exc:
                    self._flush()  # do not sit on a handled batch while waiting below
                    if not (isinstance(exc, mesh.BackendUnavailable) or mesh.is_outage(exc)):
                        logger.exception("agent loop failed", extra={"agent": self.agent.name})
                        close_old_connections()
                        self.stop_event.wait(1.0)
                        continue
                    # A store is down (seen by the handler, or by the loop's own switch and
                    # heartbeat queries): the batch waits on this consumer; probe again soon,
                    # less often the longer it lasts, and log the outage once, not each probe.
                    if not outage_wait:
                        logger.warning("store unavailable; events wait", extra={
                            "agent": self.agent.name, "error": str(exc)[:300]})  # fmt: skip
                    close_old_connections()  # a broken database connection is replaced
                    outage_wait = min(OUTAGE_MAX_WAIT_SECONDS, max(0.1, outage_wait * 2))
                    self.stop_event.wait(outage_wait)
        finally:
            self._flush()
            AGENT_UP.labels(self.agent.name).set(0)
            connection.close()

    def _flush(self) -> None:
        """Send the last handled batch's mark-done and acks now, not with the next read. With
        Redis unreachable they stay queued for the next read; if the process ends first, the
        entries stay pending and are redelivered (at least once), like after a crash."""
        try:
            self.consumer.flush()
        except Exception as exc:
            if not mesh.is_outage(exc):  # an outage is logged once by the loop
                logger.warning("last batch left unacknowledged",
                               extra={"agent": self.agent.name}, exc_info=True)  # fmt: skip

    def run_once(self, *, block_ms: int = 500) -> int:
        self._refresh_enabled()
        handled = 0
        if self._enabled:
            handled = self.consumer.poll(block_ms=block_ms)
        else:
            self.consumer.flush()  # switched off: do not sit on a handled batch
            self.stop_event.wait(block_ms / 1000)
        self._maybe_beat()
        return handled

    def _refresh_enabled(self) -> None:
        now = time.monotonic()
        if now - self._last_enabled_check < self.ENABLED_CHECK_SECONDS:
            return
        self._last_enabled_check = now
        close_old_connections()
        enabled = Agent.objects.filter(name=self.agent.name).values_list("enabled", flat=True)
        self._enabled = bool(enabled.first() if enabled else True)

    def _maybe_beat(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_beat < settings.AGENT_HEARTBEAT_SECONDS:
            return
        self._last_beat = now
        self.beat()

    def beat(self) -> None:
        """Fold this worker's counters into the agent's row and announce it is alive."""
        processed, errors = self._processed, self._errors
        self._processed = self._errors = 0
        status = AgentStatus.RUNNING if self._enabled else AgentStatus.DISABLED
        previous = Agent.objects.filter(name=self.agent.name).values_list("status", flat=True)
        previous_status = previous.first()
        updates: dict[str, Any] = {
            "status": status,
            "last_heartbeat": timezone.now(),
            "events_processed": F("events_processed") + processed,
            "errors": F("errors") + errors,
            "current_activity": self.agent.activity,
        }
        if self._last_error:
            updates["last_error"] = self._last_error
        Agent.objects.filter(name=self.agent.name).update(**updates)
        record_heartbeat(f"agent:{self.agent.name}")
        get_redis().hset(f"aiops:agent-workers:{self.agent.name}", self.consumer_name, time.time())
        self.agent.emit(
            "agent.heartbeat",
            AgentHeartbeat(
                agent=self.agent.name,
                consumer=self.consumer_name,
                status=status,
                processed=processed,
                errors=errors,
                activity=self.agent.activity,
                health=self.agent.health(),
            ),
        )
        if previous_status != status:
            self.agent.emit(
                "agent.status",
                AgentStatusChanged(agent=self.agent.name, status=status, previous=previous_status),
            )


class AgentSupervisor:
    """Starts a runner per registered agent in this process and stops them on shutdown."""

    def __init__(self, names: Iterable[str] | None = None) -> None:
        wanted = set(names) if names is not None else None
        self.runners = [
            AgentRunner(cls())
            for name, cls in registered_agents().items()
            if wanted is None or name in wanted
        ]

    def start(self) -> None:
        sync_agent_rows()
        for runner in self.runners:
            runner.start()
        logger.info("agents started", extra={"agents": [r.agent.name for r in self.runners]})

    def stop(self) -> None:
        for runner in self.runners:
            runner.stop_event.set()
        for runner in self.runners:
            runner.stop()


# --- Watchdog ----------------------------------------------------------------------------------


def check_agents(now: Any = None) -> list[str]:
    """Mark enabled agents whose heartbeat stopped as down, raising ``agent.down`` once each."""
    now = now or timezone.now()
    stale_after = timedelta(seconds=settings.AGENT_DOWN_AFTER_SECONDS)
    went_down = []
    for agent in Agent.objects.filter(enabled=True).exclude(status=AgentStatus.DOWN):
        if agent.last_heartbeat is None or not agent.is_stale(stale_after, now):
            continue
        # Conditional update: with two beat schedulers only one of them reports it.
        changed = Agent.objects.filter(pk=agent.pk, status=agent.status).update(
            status=AgentStatus.DOWN
        )
        if changed != 1:
            continue
        went_down.append(agent.name)
        age = agent.heartbeat_age(now)
        down = AgentDown(
            agent=agent.name,
            last_heartbeat=agent.last_heartbeat,
            silent_seconds=round(age or 0, 1),
        )
        mesh.publish_on_commit(
            system_event("agent.down", down, instance=agent.name, severity="critical")
        )
        logger.error("agent down", extra={"agent": agent.name, "silent_seconds": age})
    return went_down


def run_tick(name: str) -> None:
    """Run one agent's periodic work (called by the beat-scheduled task)."""
    agent = get_agent_class(name)()
    if not Agent.objects.filter(name=name, enabled=True).exists():
        return
    try:
        agent.tick()
    except Exception:
        AGENT_ERRORS.labels(name).inc()
        Agent.objects.filter(name=name).update(errors=F("errors") + 1)
        raise
