"""Caps on what one token can make the system remember: custom event types (each is a
stream) and metric series (each is a row and a detector). Without them one request could
create a thousand streams; past a cap the request is a 400 naming the field, and nothing is
published. The sets live in Redis per token, so every web process shares them.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from agents.events import Event, custom_prefixes
from agents.ingest.refusals import invalid
from agents.ingest.tokens import TokenIdentity
from core.redis import get_redis


def _types_key(token_id: int) -> str:
    return f"aiops:ingest:custom-types:{token_id}"


def _series_key(token_id: int) -> str:
    return f"aiops:ingest:metric-series:{token_id}"


def metric_series(event: Event) -> str:
    labels = event.payload.get("labels") or {}
    return "|".join(
        [str(event.payload.get("name")), *sorted(f"{k}={v}" for k, v in labels.items())]
    )


def check_caps(events: list[Event], identity: TokenIdentity, *, items: str = "events") -> None:
    """400 when the batch would take the token past its distinct custom types or series."""
    prefixes = custom_prefixes()
    types: dict[str, int] = {}
    series: dict[str, int] = {}
    for index, event in enumerate(events):
        if event.type.startswith(prefixes):
            types.setdefault(event.type, index)
        elif event.type == "metric.sample":
            series.setdefault(metric_series(event), index)
    if not types and not series:
        return
    _admit(_types_key(identity.id), types, settings.INGEST_MAX_CUSTOM_TYPES_PER_TOKEN,
           f"{items}[{{}}].type", "custom event types")  # fmt: skip
    _admit(_series_key(identity.id), series, settings.INGEST_MAX_METRIC_SERIES_PER_TOKEN,
           f"{items}[{{}}].payload.name", "metric series")  # fmt: skip


def _admit(key: str, wanted: dict[str, int], cap: int, field: str, what: str) -> None:
    if not wanted:
        return
    client = get_redis()
    names = list(wanted)
    known = client.smismember(key, names)
    new = [name for name, seen in zip(names, known, strict=True) if not seen]
    if not new:
        return
    if client.scard(key) + len(new) > cap:
        errors: list[dict[str, Any]] = [
            {"field": field.format(wanted[name]), "reason": f"more than {cap} distinct {what} "
             "for this token; reuse existing names or ask an admin to raise the cap"}
            for name in new[:10]
        ]  # fmt: skip
        raise invalid(f"this token may send at most {cap} distinct {what}", errors, "too_many")
    client.sadd(key, *new)
