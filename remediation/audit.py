"""The append-only, hash-chained audit log of every remediation decision.

Append-only is enforced by PostgreSQL (a trigger raises on UPDATE and DELETE, migration
0002); the chain makes an edit done around the trigger (by a superuser who disables it)
detectable: each row stores ``sha256(previous hash + canonical JSON of its content)``, and
:func:`verify_chain` recomputes them in order. Writers take a transaction-scoped advisory
lock so two writers never chain onto the same predecessor, and the row commits with the
decision it records (call :func:`record` inside the decision's transaction).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from remediation.models import AuditEntry

GENESIS_HASH = "0" * 64
# An arbitrary constant naming the audit chain's lock among PostgreSQL advisory locks.
AUDIT_LOCK_KEY = 0x52454D_4155  # "REM" "AU"


def canonical_json(value: Any) -> str:
    """Key-sorted, compact JSON: the same content always hashes the same."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def chain_hash(prev_hash: str, content: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical_json(content)).encode()).hexdigest()


def _actor_label(actor: Any) -> str:
    if actor is None:
        return "system"
    return getattr(actor, "get_username", lambda: str(actor))()


def record(
    kind: str,
    *,
    run: Any = None,
    rule: Any = None,
    actor: Any = None,
    **data: Any,
) -> AuditEntry:
    """Append one entry. ``data`` is normalised through JSON first, so what is hashed is
    exactly what the database gives back when the chain is verified."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [AUDIT_LOCK_KEY])
        last = AuditEntry.objects.order_by("-id").values_list("hash", flat=True).first()
        entry = AuditEntry(
            at=timezone.now(),
            kind=kind,
            run_id=getattr(run, "pk", run),
            rule_id=getattr(rule, "pk", rule),
            actor=_actor_label(actor),
            data=json.loads(canonical_json(data)),
            prev_hash=last or GENESIS_HASH,
        )
        entry.hash = chain_hash(entry.prev_hash, entry.content())
        entry.save(force_insert=True)
    return entry


@dataclass(frozen=True)
class BrokenLink:
    """The first entry whose stored hashes do not match the chain, and why."""

    entry_id: int
    reason: str


def _entries() -> Iterator[AuditEntry]:
    return AuditEntry.objects.order_by("id").iterator(chunk_size=2000)


def verify_chain() -> tuple[int, BrokenLink | None]:
    """Recompute every link; returns (entries checked, first broken link or None)."""
    previous = GENESIS_HASH
    checked = 0
    for entry in _entries():
        checked += 1
        if entry.prev_hash != previous:
            return checked, BrokenLink(entry.pk, "previous hash does not match the entry before")
        if chain_hash(previous, entry.content()) != entry.hash:
            return checked, BrokenLink(entry.pk, "content does not match its hash (edited)")
        previous = entry.hash
    return checked, None
