"""``POST /api/v1/logs``: log lines become ``log.line`` events."""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from agents.events import Event
from agents.ingest.bodies import check_count, validate, validated
from agents.ingest.refusals import invalid

LEVEL_SEVERITY: dict[str, str] = {
    "trace": "debug",
    "debug": "debug",
    "info": "info",
    "notice": "info",
    "warn": "warning",
    "warning": "warning",
    "error": "error",
    "err": "error",
    "exception": "error",
    "critical": "critical",
    "crit": "critical",
    "fatal": "critical",
    "alert": "critical",
    "emergency": "critical",
    "emerg": "critical",
}


class LogLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    level: str = Field(min_length=1, max_length=20)
    message: str = Field(min_length=1)
    timestamp: AwareDatetime | None = None
    logger: str | None = Field(default=None, max_length=200)
    fields: dict[str, Any] = Field(default_factory=dict)


class LogBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service: str | None = Field(default=None, min_length=1, max_length=100)
    instance: str = Field(default="", max_length=200)
    lines: list[LogLineIn]


def severity_for_level(level: str) -> str:
    """Map a log level (any case; unknown ones are info) to an event severity."""
    return LEVEL_SEVERITY.get(level.strip().lower(), "info")


def events_from_logs(data: Any, *, default_source: str) -> list[Event]:
    """``{"service"?, "instance"?, "lines": [...]}`` or one line object → ``log.line`` events."""
    if isinstance(data, dict) and "lines" in data:
        check_count(data["lines"], "lines")
    elif isinstance(data, dict):
        data = {"lines": [data]}
    else:
        raise invalid(
            'body must be a log line or {"lines": [...]}',
            [{"field": "body", "reason": "must be an object"}],
        )
    batch = validate(LogBatchIn, data)
    source = batch.service or default_source
    items = []
    for line in batch.lines:
        item: dict[str, Any] = {
            "type": "log.line",
            "source": source,
            "instance": batch.instance,
            "severity": severity_for_level(line.level),
            "payload": {
                "level": line.level.lower(),
                "message": line.message,
                "logger": line.logger,
                "fields": line.fields,
            },
        }
        if line.timestamp is not None:
            item["timestamp"] = line.timestamp
        items.append(item)
    return validated(items, rename="lines")
