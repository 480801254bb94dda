"""Publishing ``remediation.*`` events on commit: a rolled-back decision announces nothing."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from agents import mesh
from agents.events import parse_event

logger = logging.getLogger(__name__)


def publish_on_commit(event_type: str, payload: dict[str, Any], *, severity: str = "info") -> None:
    def _publish() -> None:
        try:
            mesh.publish(
                parse_event(
                    {
                        "type": event_type,
                        "source": "aiops",
                        "instance": "remediation",
                        "severity": severity,
                        "payload": payload,
                    }
                )
            )
        except Exception:
            # The decision is committed and audited; a lost status event must not undo it.
            logger.exception("could not publish", extra={"type": event_type})

    transaction.on_commit(_publish)
