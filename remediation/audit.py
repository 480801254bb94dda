"""The append-only, keyed, hash-chained audit log of every remediation decision.

Three layers, each covering what the one before cannot:

* PostgreSQL refuses UPDATE, DELETE (migration 0002) and TRUNCATE (0004) on the table.
* Each row stores ``HMAC-SHA256(key, previous hash + canonical JSON of its content)``. The
  key (``settings.AUDIT_KEY``: ``AIOPS_AUDIT_KEY``, derived from ``SECRET_KEY`` by default)
  is never in the database, so whoever goes around the triggers cannot recompute a valid
  chain: an edited row or a forged append (even with a recomputed plain SHA-256) breaks it.
* The chain's head (last id and hash) is anchored outside the table after each commit: in
  Redis (``AUDIT_HEAD_KEY``, only ever moved forward) and in a structured log line
  (``audit head``). A deleted tail or a truncated table leaves a valid but shorter chain;
  the anchor names the entry that must still be there.

:func:`verify_chain` checks all three; ``manage.py verify_audit`` runs it (``--head ID:HASH``
takes the anchor from the logs when Redis was lost). Writers take a transaction-scoped
advisory lock so two writers never chain onto the same predecessor, and the row commits
with the decision it records (call :func:`record` inside the decision's transaction).

Rows written before the key (plain SHA-256) are re-chained by migration 0004, which first
checks the plain chain and records the result in an ``audit.rechained`` entry.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.redis import get_redis
from remediation.models import AuditEntry

GENESIS_HASH = "0" * 64
# An arbitrary constant naming the audit chain's lock among PostgreSQL advisory locks.
AUDIT_LOCK_KEY = 0x52454D_4155  # "REM" "AU"
AUDIT_HEAD_KEY = "aiops:audit:head"
# Moves the anchored head forward only: commits of concurrent writers may arrive out of order.
_ADVANCE_HEAD = """
local current = tonumber(redis.call('HGET', KEYS[1], 'id') or '0')
if tonumber(ARGV[1]) > current then
    redis.call('HSET', KEYS[1], 'id', ARGV[1], 'hash', ARGV[2])
    return 1
end
return 0
"""

logger = logging.getLogger(__name__)


def canonical_json(value: Any) -> str:
    """Key-sorted, compact JSON: the same content always hashes the same."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def chain_hash(prev_hash: str, content: dict[str, Any], key: str | None = None) -> str:
    """The keyed link: without the key nobody can compute the hash of a forged row."""
    message = (prev_hash + canonical_json(content)).encode()
    return hmac.new((key or settings.AUDIT_KEY).encode(), message, hashlib.sha256).hexdigest()


def plain_chain_hash(prev_hash: str, content: dict[str, Any]) -> str:
    """The unkeyed hash of rows written before the key (checked once, by migration 0004)."""
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
        transaction.on_commit(lambda: anchor_head(entry.pk, entry.hash))
    return entry


@dataclass(frozen=True)
class Head:
    entry_id: int
    hash: str

    @classmethod
    def parse(cls, text: str) -> Head:
        """``ID:HASH``, as the ``audit head`` log line gives them."""
        entry_id, _, digest = text.partition(":")
        if not entry_id.isdigit() or len(digest) != 64:
            raise ValueError(f"not an audit head (ID:HASH): {text!r}")
        return cls(int(entry_id), digest)


def anchor_head(entry_id: int, digest: str) -> None:
    """Record the committed head outside the table: the log always, Redis when it answers
    (the decision is committed already; a Redis outage must not undo or fail it)."""
    logger.info("audit head", extra={"audit_head": f"{entry_id}:{digest}", "audit_id": entry_id})
    try:
        get_redis().eval(_ADVANCE_HEAD, 1, AUDIT_HEAD_KEY, entry_id, digest)
    except redis.RedisError as exc:
        logger.warning("audit head not anchored in Redis", extra={"error": str(exc)})


def anchored_head() -> Head | None:
    raw = get_redis().hgetall(AUDIT_HEAD_KEY)
    if not raw:
        return None
    return Head(int(raw[b"id"]), raw[b"hash"].decode())


@dataclass(frozen=True)
class BrokenLink:
    """The first entry whose stored hashes do not match the chain, and why."""

    entry_id: int
    reason: str


def _entries() -> Iterator[AuditEntry]:
    return AuditEntry.objects.order_by("id").iterator(chunk_size=2000)


def verify_chain(head: Head | None = None) -> tuple[int, BrokenLink | None]:
    """Recompute every keyed link, then check the anchored ``head`` is still in the chain;
    returns (entries checked, first broken link or None)."""
    previous = GENESIS_HASH
    checked = 0
    seen_head = head is None
    for entry in _entries():
        checked += 1
        if entry.prev_hash != previous:
            return checked, BrokenLink(entry.pk, "previous hash does not match the entry before")
        if chain_hash(previous, entry.content()) != entry.hash:
            return checked, BrokenLink(entry.pk, "content does not match its keyed hash "
                                                 "(edited or forged)")  # fmt: skip
        if head is not None and entry.pk == head.entry_id:
            if entry.hash != head.hash:
                return checked, BrokenLink(entry.pk, "differs from the anchored head (rewritten)")
            seen_head = True
        previous = entry.hash
    if not seen_head:
        what = "the table is empty (truncated)" if checked == 0 else "the tail was deleted"
        return checked, BrokenLink(head.entry_id, f"anchored head is missing: {what}")
    return checked, None


def rechain_plain_entries(model: Any = AuditEntry) -> int:
    """Re-chain rows written with the plain SHA-256 under the key (migration 0004).

    The plain chain is checked first and the verdict appended as an ``audit.rechained``
    entry, so re-chaining can never silently launder earlier tampering. Needs the table
    owner (it switches the append-only trigger off for its own updates). Returns the number
    of rows re-chained.
    """
    rows = list(model.objects.order_by("id"))
    if not rows:
        return 0
    previous, first_broken = GENESIS_HASH, None
    for row in rows:
        content = AuditEntry.content(row)  # the content of a historical model's row too
        if first_broken is None and (
            row.prev_hash != previous or plain_chain_hash(previous, content) != row.hash
        ):
            first_broken = row.pk
        previous = row.hash
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "ALTER TABLE remediation_auditentry DISABLE TRIGGER remediation_audit_append_only"
        )
        previous = GENESIS_HASH
        for row in rows:
            digest = chain_hash(previous, AuditEntry.content(row))
            model.objects.filter(pk=row.pk).update(prev_hash=previous, hash=digest)
            previous = digest
        cursor.execute(
            "ALTER TABLE remediation_auditentry ENABLE TRIGGER remediation_audit_append_only"
        )
    record(
        "audit.rechained", entries=len(rows), plain_chain_intact=first_broken is None,
        first_broken_entry=first_broken,
    )  # fmt: skip
    return len(rows)
