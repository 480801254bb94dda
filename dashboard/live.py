"""Repainting connected screens: render a panel's partial once, fan it out by group.

The channel layer delivers at most once and only repaints; the database stays the record.
A client that missed a message catches up on the next push of that panel, or at once when
it reconnects (the consumer sends every panel on connect).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import close_old_connections, connection
from django.template.loader import render_to_string
from django.urls import reverse

from dashboard.panels import OVERVIEW_TEMPLATE, ROLE_PANELS, panel_context

DASHBOARD_GROUP = "dashboard"  # every logged-in screen
APPROVERS_GROUP = "dashboard.approvers"  # screens of users who may approve
READONLY_GROUP = "dashboard.readonly"  # everyone else
MESSAGE_TYPE = "dashboard.html"


def render_panels(names: Iterable[str], *, can_approve: bool) -> str:
    """The partials of these panels, each an element swapped out-of-band by its id."""
    names = list(names)
    context = {**panel_context(names), "can_approve": can_approve, "oob": True}
    return "".join(render_to_string(f"{OVERVIEW_TEMPLATE}#{name}", context) for name in names)


INCIDENT_PREFIX = "incident:"


def incident_refresh(pk: int) -> str:
    """Swapped by id into an open incident page, it makes the page fetch its live part once
    (``hx-trigger="load"``): the push only says "repaint", the database stays the record."""
    url = reverse("dashboard:incident-live", args=[pk])
    return (
        f'<span id="incident-refresh-{pk}" hx-get="{url}" hx-trigger="load" '
        f'hx-target="#incident-live-{pk}" hx-swap="outerHTML"></span>'
    )


def push_panels(names: Iterable[str]) -> None:
    """Render and send these panels to every connected screen (role panels per role);
    ``incident:<pk>`` names repaint that incident's page where it is open."""
    names = list(names)
    refreshes = "".join(
        incident_refresh(int(n.removeprefix(INCIDENT_PREFIX)))
        for n in names
        if n.startswith(INCIDENT_PREFIX)
    )
    names = [n for n in names if not n.startswith(INCIDENT_PREFIX)]
    shared = [n for n in names if n not in ROLE_PANELS]
    personal = [n for n in names if n in ROLE_PANELS]
    sends: list[tuple[str, str]] = [(DASHBOARD_GROUP, refreshes)] if refreshes else []
    if shared:
        sends.append((DASHBOARD_GROUP, render_panels(shared, can_approve=False)))
    if personal:
        sends.append((APPROVERS_GROUP, render_panels(personal, can_approve=True)))
        sends.append((READONLY_GROUP, render_panels(personal, can_approve=False)))
    layer = get_channel_layer()
    for group, html in sends:
        async_to_sync(layer.group_send)(group, {"type": MESSAGE_TYPE, "html": html})


class Coalescer:
    """Collects panels marked dirty and pushes each at most once per ``interval``.

    However many events arrive, a browser gets a few repaints a second per panel, and the
    last repaint after a burst always shows the latest state (the trailing flush)."""

    def __init__(self, interval: float = 0.25, *, periodic: dict[str, float] | None = None) -> None:
        self.interval = interval
        self.periodic = periodic or {}
        self._dirty: set[str] = set()
        self._due: dict[str, float] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def mark(self, names: Iterable[str]) -> None:
        with self._lock:
            self._dirty.update(names)
        self._ensure_thread()
        self._wake.set()

    def flush(self) -> list[str]:
        """Push what is dirty or periodically due now; returns what was pushed."""
        now = time.monotonic()
        with self._lock:
            due = {n for n, at in self._due.items() if at <= now} if self.periodic else set()
            names = sorted(self._dirty | {n for n in self.periodic if n not in self._due} | due)
            self._dirty.clear()
            for name in self.periodic:
                if name in names:
                    self._due[name] = now + self.periodic[name]
        if names:
            push_panels(names)
        return names

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="dashboard-push", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(timeout=self.interval)
            self._wake.clear()
            try:
                close_old_connections()
                self.flush()
            except Exception:  # Redis or the database away: the next flush repaints
                time.sleep(self.interval)
            self._stop.wait(self.interval)
        connection.close()  # this thread's own connection

    def stop(self, timeout: float = 5) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
