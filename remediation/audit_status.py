"""The audit chain's last verification, kept in Redis for ``/metrics`` to read.

:func:`remediation.audit.verify_chain` walks every entry, far too slow for a scrape, so beat
runs it periodically (``remediation.tasks.verify_audit_chain``) and the result is stored
here; the scrape-time collector exports it as ``ai_ops_audit_chain_valid``.
"""

from __future__ import annotations

import time
from typing import TypedDict

from core.redis import get_redis
from remediation.audit import verify_chain

STATUS_KEY = "aiops:audit-chain"


class ChainStatus(TypedDict):
    valid: bool
    checked: int
    broken_entry: int | None
    at: float


def check_and_store() -> ChainStatus:
    checked, broken = verify_chain()
    status = ChainStatus(
        valid=broken is None,
        checked=checked,
        broken_entry=broken.entry_id if broken else None,
        at=time.time(),
    )
    get_redis().hset(
        STATUS_KEY,
        mapping={
            "valid": int(status["valid"]),
            "checked": checked,
            "broken_entry": status["broken_entry"] or "",
            "at": status["at"],
        },
    )
    return status


def last_status() -> ChainStatus | None:
    raw = {k.decode(): v.decode() for k, v in get_redis().hgetall(STATUS_KEY).items()}
    if not raw:
        return None
    return ChainStatus(
        valid=raw["valid"] == "1",
        checked=int(raw["checked"]),
        broken_entry=int(raw["broken_entry"]) if raw["broken_entry"] else None,
        at=float(raw["at"]),
    )
