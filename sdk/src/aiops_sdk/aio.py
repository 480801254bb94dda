"""The asyncio client: ``emit`` stays a plain (non-blocking) call, an asyncio task sends.

Use it as ``async with AsyncAIOpsClient(...) as client:`` or call :meth:`start` inside the
running loop; events emitted before that wait in the buffer. ``emit`` may also be called
from other threads (it wakes the task through ``call_soon_threadsafe``).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
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
from aiops_sdk.http import AsyncHttpTransport
from aiops_sdk.registry import (
    DEFAULT_HEARTBEAT_INTERVAL,
    Registration,
    needs_registration,
    registry_ok,
)

# How often flush() re-checks the counters: they move under a threading lock, not an
# asyncio primitive, because emit() may run in other threads.
_POLL = 0.005


class AsyncAIOpsClient(ClientBase):
    """The asyncio twin of :class:`aiops_sdk.AIOpsClient` (same arguments, same stats).

    A blocking transport (direct-to-Redis) runs in a worker thread via ``asyncio.to_thread``.
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
        self._http = AsyncHttpTransport(url, token, timeout=timeout) if url else None
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
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._wake_event: asyncio.Event | None = None
        self._closing = False
        self._flush_requested = False
        self._registration: Registration | None = None

    # Lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the sending task in the running loop (``async with`` does this)."""
        self._start(asyncio.get_running_loop())

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._task is not None:
            return
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self._wake_event = asyncio.Event()
        self._task = loop.create_task(self._run(), name=f"{THREAD_PREFIX}-flusher")

    def _emitted(self, waiting: int) -> None:
        if self._task is None:
            # The first emit inside a running loop starts the task: forgetting start()
            # must not leave events waiting forever. Outside a loop they wait for start().
            with contextlib.suppress(RuntimeError):
                self._start(asyncio.get_running_loop())
        super()._emitted(waiting)

    async def flush(self, timeout: float | None = 10.0) -> bool:
        """Send what was emitted so far; True when all of it is resolved within ``timeout``."""
        await self.start()
        target = self._buffer.accepted
        self._flush_requested = True
        self._wake()
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._buffer.is_resolved(target):
            if deadline is not None and time.monotonic() >= deadline:
                return False
            await asyncio.sleep(_POLL)
        return True

    async def aclose(self, timeout: float = 5.0) -> None:
        """Flush for up to ``timeout`` seconds, stop the tasks, drop (and count) the rest."""
        if self._closed:
            return
        self._closed = True
        await self.start()
        self._closing = True
        await self.flush(timeout)
        for task in (self._task, self._heartbeat_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._drop_leftovers()
        for transport in {id(self.transport): self.transport, id(self._http): self._http}.values():
            if transport is not None:
                result = transport.close()
                if inspect.isawaitable(result):
                    await result

    async def __aenter__(self) -> AsyncAIOpsClient:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # Service registry ----------------------------------------------------------------------

    async def register(
        self,
        *,
        version: str = "",
        base_url: str = "",
        health_url: str = "",
        control_url: str = "",
        tags: Mapping[str, Any] | None = None,
        heartbeat_interval: float | None = DEFAULT_HEARTBEAT_INTERVAL,
    ) -> bool:
        """Register this instance; keep it alive with a heartbeat task (see the sync client)."""
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
        response = await self._registry_post(self._registration.register_path)
        if heartbeat_interval is not None and self._heartbeat_task is None:
            self._heartbeat_task = asyncio.get_running_loop().create_task(
                self._beat(heartbeat_interval), name=f"{THREAD_PREFIX}-heartbeat"
            )
        return registry_ok(response, "register")

    async def heartbeat(self) -> bool:
        if self._registration is None:
            raise RuntimeError("call register() before heartbeat()")
        response = await self._registry_post(self._registration.heartbeat_path, {})
        if needs_registration(response):
            response = await self._registry_post(self._registration.register_path)
            return registry_ok(response, "register")
        return registry_ok(response, "heartbeat")

    async def _registry_post(
        self, path: str, body: dict[str, Any] | None = None
    ) -> httpx.Response | None:
        if self._http is None:
            raise RuntimeError("the service registry is reached over HTTP: pass url= and token=")
        assert self._registration is not None  # noqa: S101 - set by register()
        try:
            return await self._http.post(path, self._registration.body() if body is None else body)
        except httpx.HTTPError:
            return None

    async def _beat(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.heartbeat()
            except Exception:  # the task must outlive any one bad beat
                logger.exception("heartbeat failed")

    # Internals -----------------------------------------------------------------------------

    def _wake(self) -> None:
        if self._wake_event is None or self._loop is None:
            return  # not started: start() runs a first pass anyway
        if threading.get_ident() == self._loop_thread:
            self._wake_event.set()
        else:
            self._loop.call_soon_threadsafe(self._wake_event.set)

    async def _run(self) -> None:
        assert self._wake_event is not None  # noqa: S101 - set by start()
        deadline = time.monotonic() + self.flush_interval
        retrying = False
        while True:
            idle = not (retrying or self._flush_requested or self._closing)
            if idle and not self._has_full_batch():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._wake_event.wait(), max(0.0, deadline - time.monotonic())
                    )
                self._wake_event.clear()
            due = retrying or self._closing or self._flush_requested
            if due or time.monotonic() >= deadline:
                due = True
                self._flush_requested = False
                deadline = time.monotonic() + self.flush_interval
            delay = await self._drain(everything=due)
            retrying = delay is not None
            if retrying:
                await asyncio.sleep(delay)
            elif self._closing and not len(self._buffer):
                return

    async def _drain(self, *, everything: bool) -> float | None:
        owed = self._owed(everything)
        while self._should_send(owed):
            batch = self._take()
            owed -= len(batch)
            delay = await self._deliver(batch)
            if delay is not None:
                return delay
        return None

    async def _deliver(self, batch: list[Any]) -> float | None:
        pending = [batch]
        while pending:
            chunk = pending.pop(0)
            try:
                await self._send(chunk)
            except RejectedError as exc:
                pending[:0] = self._on_rejected(exc, chunk)
            except asyncio.CancelledError:
                # Cancelled mid-send (aclose after its timeout): the events stay countable.
                self._buffer.put_back([*chunk, *(i for c in pending for i in c)])
                raise
            except Exception as exc:
                return self._on_retryable(exc, [*chunk, *(i for c in pending for i in c)])
            else:
                self._on_sent(chunk)
        return None

    async def _send(self, chunk: list[Any]) -> None:
        if inspect.iscoroutinefunction(self.transport.send):
            await self.transport.send(chunk)
        else:
            await asyncio.to_thread(self.transport.send, chunk)
