"""``POST /api/v1/alertmanager``: Alertmanager's webhook (version 4) becomes ``alert.*`` events."""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from ulid import ULID

from agents.events import SEVERITIES, Event
from agents.ingest.bodies import check_count, validate, validated

logger = logging.getLogger(__name__)

SEVERITY_ALIASES = {"warn": "warning", "err": "error", "crit": "critical", "fatal": "critical"}


class AlertmanagerAlert(BaseModel):
    """One alert of an Alertmanager webhook (version 4); unknown fields are ignored."""

    model_config = ConfigDict(populate_by_name=True)

    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime | None = Field(default=None, alias="startsAt")
    ends_at: datetime | None = Field(default=None, alias="endsAt")
    generator_url: str = Field(default="", alias="generatorURL")
    fingerprint: str = ""


class AlertmanagerWebhook(BaseModel):
    """Alertmanager's webhook body, version 4.

    See https://prometheus.io/docs/alerting/latest/configuration/#webhook_config
    """

    model_config = ConfigDict(populate_by_name=True)

    version: Literal["4"]
    group_key: str = Field(default="", alias="groupKey")
    truncated_alerts: int = Field(default=0, ge=0, alias="truncatedAlerts")
    status: Literal["firing", "resolved"]
    receiver: str = ""
    group_labels: dict[str, str] = Field(default_factory=dict, alias="groupLabels")
    common_labels: dict[str, str] = Field(default_factory=dict, alias="commonLabels")
    common_annotations: dict[str, str] = Field(default_factory=dict, alias="commonAnnotations")
    external_url: str = Field(default="", alias="externalURL")
    alerts: list[AlertmanagerAlert]


def _real_time(value: datetime | None) -> datetime | None:
    """Alertmanager writes Go's zero time (0001-01-01T00:00:00Z) for "not ended yet"."""
    if value is None or value.year <= 1:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def alert_event_id(fingerprint: str, status: str, moment: datetime) -> str:
    """A ULID derived from the alert, so Alertmanager's repeated notifications of one alert
    state carry the same event id and the mesh handles them once (consumers dedupe by id)."""
    milliseconds = max(0, int(moment.timestamp() * 1000))
    randomness = hashlib.sha256(f"{fingerprint}|{status}|{milliseconds}".encode()).digest()[:10]
    return str(ULID.from_bytes(milliseconds.to_bytes(6, "big") + randomness))


def _alert_severity(labels: dict[str, str], status: str) -> str:
    raw = labels.get("severity", "").strip().lower()
    severity = SEVERITY_ALIASES.get(raw, raw)
    if severity in SEVERITIES:
        return severity
    return "warning" if status == "firing" else "info"


def _alert_item(alert: AlertmanagerAlert, hook: AlertmanagerWebhook, default_source: str) -> dict:
    starts_at, ends_at = _real_time(alert.starts_at), _real_time(alert.ends_at)
    moment = (ends_at if alert.status == "resolved" else starts_at) or datetime.now(UTC)
    labels = alert.labels
    item: dict[str, Any] = {
        "type": f"alert.{alert.status}",
        "source": (labels.get("service") or labels.get("job") or default_source)[:100],
        "instance": labels.get("instance", "")[:200],
        "timestamp": moment,
        "severity": _alert_severity(labels, alert.status),
        "payload": {
            "alertname": labels.get("alertname", ""),
            "status": alert.status,
            "labels": labels,
            "annotations": alert.annotations,
            "starts_at": starts_at.isoformat() if starts_at else None,
            "ends_at": ends_at.isoformat() if ends_at else None,
            "fingerprint": alert.fingerprint or None,
            "generator_url": alert.generator_url or None,
            "receiver": hook.receiver,
            "group_key": hook.group_key,
            "external_url": hook.external_url,
        },
    }
    if alert.fingerprint:
        item["id"] = alert_event_id(alert.fingerprint, alert.status, moment)
        item["correlation_id"] = alert.fingerprint[:200]
    return item


def events_from_alertmanager(data: Any, *, default_source: str) -> list[Event]:
    """One ``alert.firing`` / ``alert.resolved`` event per alert, labels and annotations kept."""
    if isinstance(data, dict) and isinstance(data.get("alerts"), list):
        check_count(data["alerts"], "alerts")
    hook = validate(AlertmanagerWebhook, data)
    if hook.truncated_alerts:
        logger.warning(
            "alertmanager truncated alerts",
            extra={"group_key": hook.group_key, "truncated": hook.truncated_alerts},
        )
    items = [_alert_item(alert, hook, default_source) for alert in hook.alerts]
    return validated(items, rename="alerts")
