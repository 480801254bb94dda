"""The knowledge graph's announcements, for the layers above it to act on."""

from __future__ import annotations

from django.dispatch import Signal

#: A problem appeared or changed. Sent inside the changing transaction with ``problem`` (the
#: row after the change), ``created`` and ``details`` (service, instance, reopened, changed,
#: merged). Receivers that reach outside the database must wait for the commit.
problem_changed = Signal()

#: An incident was opened, moved, or got a timeline row. Sent inside the changing transaction
#: with ``incident`` (the row after the change), ``change`` (opened, acknowledged,
#: remediating, resolved, reopened, note, retitled) and ``details``.
incident_changed = Signal()
