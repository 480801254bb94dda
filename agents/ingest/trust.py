"""Who may say what: a token speaks only for its own services, never as the system.

Only AI-Ops Core publishes the system's event families (``agent.*``, ``problem.*``,
``anomaly.*``, ``diagnosis.*``, ``remediation.*``): a forged ``diagnosis.ready`` would make
the remediation engine act. And an event's ``source`` is the service it speaks about, so a
token may only name the services it was issued for (``ApiToken.service`` and
``also_services``). Alertmanager speaks for many services by nature: alerts may name the
service in their labels only with a token that holds the ``alertmanager`` scope explicitly.
Refusals are 403 with every offending field; nothing of the request is published.
"""

from __future__ import annotations

from typing import Any

from agents.events import Event
from agents.ingest.refusals import IngestRefused
from agents.ingest.tokens import TokenIdentity
from agents.system_events import SYSTEM_PREFIXES


def check_speaker(
    events: list[Event], identity: TokenIdentity, *, items: str, single: bool = False
) -> None:
    """403 unless every event is a non-system type about a service the token speaks for.

    ``items`` names the request's list (events, lines, alerts) for the field paths; a single
    event's fields are named without an index."""
    any_source = items == "alerts" and identity.grants("alertmanager")
    errors: list[dict[str, Any]] = []
    for index, event in enumerate(events):
        where = "" if single else f"{items}[{index}]."
        if event.type.startswith(SYSTEM_PREFIXES):
            errors.append(
                {
                    "field": f"{where}type",
                    "reason": f"{event.type!r} is a system event: only AI-Ops Core publishes it",
                }
            )
        if not any_source and not identity.speaks_for(event.source):
            errors.append(
                {
                    "field": f"{where}source",
                    "reason": f"this token speaks for {_services(identity)} only, "
                    f"not {event.source!r}",
                }
            )
    if errors:
        raise IngestRefused(
            403, "forbidden", f"{len(errors)} field(s) this token may not send", errors[:50]
        )


def check_service(service: str, identity: TokenIdentity, *, field: str) -> None:
    """403 unless the token speaks for ``service`` (registration, heartbeats)."""
    if not identity.speaks_for(service):
        raise IngestRefused(
            403,
            "forbidden",
            f"this token speaks for {_services(identity)} only",
            [{"field": field, "reason": f"not a service of this token: {service!r}"}],
        )


def _services(identity: TokenIdentity) -> str:
    return ", ".join(repr(name) for name in (identity.service, *identity.also_services))
