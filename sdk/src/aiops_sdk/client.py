"""The blocking client: ``emit`` from any thread, a daemon thread sends the batches."""

from __future__ import annotations

import atexit
import threading
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import httpx

from aiops_sdk.base import ClientBase, choose_transport
from aiops_sdk.core import (
    DEFAULT_BACKOFF_BASE,
    DEFAULT_BATCH_SIZE,
    DEFAULT_FLUSH_INTERVAL,
    DEFAULT_MAX_BACKOFF,
    DEFAULT_MAX_BUFFER,
    DEFAULT_MAX_RETRY_AFTER,
    THREAD_PREFIX,
    RejectedError,
    Transport,
    logger,
)
from aiops_sdk.http import HttpTransport
from aiops_sdk.registry import (
    DEFAULT_HEARTBEAT_INTERVAL,
    Registration,
    needs_registration,
    registry_ok,
)


class AIOpsClient(ClientBase):
    """Publish events to AI-Ops Core from a service.

    One of ``url`` (the ingest API, with ``token``), ``redis_url`` (direct to the mesh, for
    in-cluster Django services) or ``transport``. ``url`` is also where ``register`` and
    ``heartbeat`` go, so it may be given alongside the other two::

        client = AIOpsClient("https://aiops.internal", token="...", service="bookmarks")
        client.emit("import.failed", {"import_id": "42", "error": "timeout"}, severity="error")
        client.close()  # flushes

    Events are sent by a daemon thread when ``batch_size`` are waiting or every
    ``flush_interval`` seconds; transient failures are retried with backoff while up to
    ``max_buffer`` events wait (the oldest are dropped beyond that: see :attr:`stats`).
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        service: str,
        instance: str | None = None,
        redis_url: str | None = None,
        transport: Transport | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL,
        max_buffer: int = DEFAULT_MAX_BUFFER,
        timeout: float = 10.0,
        backoff_base: float = DEFAULT_BACKOFF_BASE,
        max_backoff: float = DEFAULT_MAX_BACKOFF,
        max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
    ) -> None:
        self._http = HttpTransport(url, token, timeout=timeout) if url else None
        super().__init__(
            choose_transport(self._http, redis_url, transport),
            service=service,
            instance=instance,
            batch_size=batch_size,
            flush_interval=flush_interval,
            max_buffer=max_buffer,
            backoff_base=backoff_base,
            max_backoff=max_backoff,
            max_retry_after=max_retry_after,
        )
        self._wake_event = threading.Event()
        self._closing = threading.Event()  # drain everything, then stop
        self._abort = threading.Event()  # stop now, even mid-backoff
        self._flush_requested = False
        self._close_lock = threading.Lock()
        self._registration: Registration | None = None
        self._heartbeat_thread: threading.Thread | None = None
        self._flusher = threading.Thread(
            target=self._run, name=f"{THREAD_PREFIX}-flusher", daemon=True
        )
        self._flusher.start()
        # The flusher is a daemon thread: without this, events emitted just before a
        # service exits would die with it.
        atexit.register(self.close)

    # Public API ----------------------------------------------------------------------------

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Send what was emitted so far; True when all of it is resolved (sent, or refused
        and counted) within ``timeout``."""
        target = self._buffer.accepted
        self._flush_requested = True
        self._wake_event.set()
        return self._buffer.wait_resolved(target, timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Flush (for up to ``timeout`` seconds), stop the threads, release the connection.

        Events still undelivered after that are dropped and counted in ``stats.dropped``.
        """
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        atexit.unregister(self.close)
        self._closing.set()
        self._wake_event.set()
        self._buffer.wait_resolved(self._buffer.accepted, timeout)
        self._abort.set()
        self._flusher.join(timeout=max(1.0, getattr(self.transport, "timeout", 5.0)))
        if self._heartbeat_thread is not None:
            self._heartbeat_thread.join(timeout=1.0)
        self._drop_leftovers()
        self.transport.close()
        if self._http is not None and self._http is not self.transport:
            self._http.close()

    def __enter__(self) -> AIOpsClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # Service registry ----------------------------------------------------------------------

    def register(
        self,
        *,
        version: str = "",
        base_url: str = "",
        health_url: str = "",
        control_url: str = "",
        tags: Mapping[str, Any] | None = None,
        heartbeat_interval: float | None = DEFAULT_HEARTBEAT_INTERVAL,
    ) -> bool:
        """Register this instance and (unless ``heartbeat_interval`` is None) keep it alive
        with a heartbeat thread. Returns whether the registry answered; a failure is logged,
        not raised, and the heartbeat thread registers again once the registry is back."""
        self._registration = Registration(
            self.service,
            self.instance,
            version=version,
            base_url=base_url,
            health_url=health_url,
            control_url=control_url,
            tags=dict(tags or {}),
            heartbeat_interval=heartbeat_interval,
        )
        ok = registry_ok(self._registry_post(self._registration.register_path), "register")
        if heartbeat_interval is not None and self._heartbeat_thread is None:
            self._heartbeat_thread = threading.Thread(
                target=self._beat,
                args=(heartbeat_interval,),
                name=f"{THREAD_PREFIX}-heartbeat",
                daemon=True,
            )
            self._heartbeat_thread.start()
        return ok

    def heartbeat(self) -> bool:
        """Tell the registry this instance is alive (registering again if it forgot us)."""
        if self._registration is None:
            raise RuntimeError("call register() before heartbeat()")
        response = self._registry_post(self._registration.heartbeat_path, {})
        if needs_registration(response):
            return registry_ok(self._registry_post(self._registration.register_path), "register")
        return registry_ok(response, "heartbeat")

    # Internals -----------------------------------------------------------------------------

    def _registry_post(
        self, path: str, body: dict[str, Any] | None = None
    ) -> httpx.Response | None:
        if self._http is None:
            raise RuntimeError("the service registry is reached over HTTP: pass url= and token=")
        assert self._registration is not None  # noqa: S101 - set by register()
        try:
            return self._http.post(path, self._registration.body() if body is None else body)
        except httpx.HTTPError:
            return None

    def _beat(self, interval: float) -> None:
        while not self._abort.wait(interval):
            try:
                self.heartbeat()
            except Exception:  # the thread must outlive any one bad beat
                logger.exception("heartbeat failed")

    def _wake(self) -> None:
        self._wake_event.set()

    def _run(self) -> None:
        """The flusher: full batches at once, the rest every ``flush_interval``."""
        deadline = time.monotonic() + self.flush_interval
        retrying = False
        while not self._abort.is_set():
            idle = not (retrying or self._flush_requested or self._closing.is_set())
            if idle and not self._has_full_batch():
                self._wake_event.wait(max(0.0, deadline - time.monotonic()))
                self._wake_event.clear()
            closing = self._closing.is_set()
            due = retrying or closing or self._flush_requested or time.monotonic() >= deadline
            if due:
                self._flush_requested = False
                deadline = time.monotonic() + self.flush_interval
            delay = self._drain(everything=due)
            retrying = delay is not None
            if retrying:
                self._abort.wait(delay)
            elif closing and not len(self._buffer):
                return

    def _drain(self, *, everything: bool) -> float | None:
        """Send full batches (and, when ``everything``, what waited when the flush began).
        Returns the delay before a retry when the server failed transiently."""
        owed = self._owed(everything)
        while self._should_send(owed):
            batch = self._take()
            owed -= len(batch)
            delay = self._deliver(batch)
            if delay is not None:
                return delay
        return None

    def _deliver(self, batch: list[Any]) -> float | None:
        pending = [batch]
        while pending:
            chunk = pending.pop(0)
            try:
                self.transport.send(chunk)
            except RejectedError as exc:
                pending[:0] = self._on_rejected(exc, chunk)
            except Exception as exc:  # RetryableError, or a transport bug: keep the events
                return self._on_retryable(exc, [*chunk, *(i for c in pending for i in c)])
            else:
                self._on_sent(chunk)
        return None
