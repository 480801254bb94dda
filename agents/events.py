"""The event schema: validated once, at the edge (ingest API, SDK); trusted inside the mesh.

An event is an envelope (id, type, source, instance, timestamp, severity, correlation id) and
a JSON payload. Known types have a payload schema (required fields, types; extra fields are
kept, so services may add context). The system's own families (``agent.*``, ``problem.*``,
``diagnosis.*``, ``remediation.*``, ``anomaly.*``) take any object payload. Other types are
accepted only under the configured custom prefixes (``EVENT_CUSTOM_PREFIXES``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from django.conf import settings
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)
from ulid import ULID

Severity = Literal["debug", "info", "warning", "error", "critical"]
SEVERITIES: tuple[str, ...] = ("debug", "info", "warning", "error", "critical")
TYPE_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
SYSTEM_PREFIXES: tuple[str, ...] = ("agent.", "problem.", "diagnosis.", "remediation.", "anomaly.")
MAX_TYPE_LENGTH = 100


class Payload(BaseModel):
    """Base of the per-type payloads: unknown fields are kept, known ones are checked."""

    model_config = ConfigDict(extra="allow")


class BookmarkCreated(Payload):
    user_id: str
    bookmark_id: str | None = None
    url: str | None = None
    folder: str | None = None
    tags: list[str] = Field(default_factory=list)


class BookmarkSearched(Payload):
    user_id: str
    query: str = ""
    results: int = Field(ge=0)
    latency_ms: float = Field(ge=0)


ImportSource = Literal["chrome", "firefox", "pocket", "html", "other"]


class ImportStarted(Payload):
    import_id: str
    user_id: str
    source: ImportSource
    bookmark_count: int = Field(ge=0)
    batch_size: int | None = Field(default=None, ge=1)


class ImportCompleted(Payload):
    import_id: str
    user_id: str | None = None
    source: ImportSource | None = None
    bookmark_count: int = Field(ge=0)
    imported: int = Field(ge=0)
    duplicates: int = Field(default=0, ge=0)
    duration_ms: float = Field(ge=0)
    batch_size: int | None = Field(default=None, ge=1)


class ImportFailed(Payload):
    import_id: str
    user_id: str | None = None
    source: ImportSource | None = None
    error: str = Field(min_length=1)
    error_type: str | None = None
    bookmark_count: int | None = Field(default=None, ge=0)
    batch_size: int | None = Field(default=None, ge=1)
    duration_ms: float | None = Field(default=None, ge=0)


class ApiRequest(Payload):
    method: str
    endpoint: str
    status: int = Field(ge=100, le=599)
    latency_ms: float = Field(ge=0)
    user_id: str | None = None


class DbQuery(Payload):
    operation: str
    table: str | None = None
    duration_ms: float = Field(ge=0)
    rows: int | None = Field(default=None, ge=0)


class UserActivity(Payload):
    user_id: str
    action: str


class LogLine(Payload):
    level: str
    message: str = Field(min_length=1)
    logger: str | None = None
    fields: dict[str, Any] = Field(default_factory=dict)


class MetricSample(Payload):
    name: str = Field(min_length=1)
    value: float
    labels: dict[str, str] = Field(default_factory=dict)


class Alert(Payload):
    alertname: str
    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    fingerprint: str | None = None
    generator_url: str | None = None


class DeployFinished(Payload):
    version: str
    service: str | None = None
    previous_version: str | None = None


class ConfigChanged(Payload):
    key: str
    old_value: Any = None
    new_value: Any = None


class AnyPayload(Payload):
    """System and custom event families carry any object."""


PAYLOAD_SCHEMAS: dict[str, type[Payload]] = {
    "bookmark.created": BookmarkCreated,
    "bookmark.searched": BookmarkSearched,
    "import.started": ImportStarted,
    "import.completed": ImportCompleted,
    "import.failed": ImportFailed,
    "api.request": ApiRequest,
    "db.query": DbQuery,
    "user.activity": UserActivity,
    "log.line": LogLine,
    "metric.sample": MetricSample,
    "alert.firing": Alert,
    "alert.resolved": Alert,
    "deploy.finished": DeployFinished,
    "config.changed": ConfigChanged,
}
KNOWN_TYPES: frozenset[str] = frozenset(PAYLOAD_SCHEMAS)


def new_event_id() -> str:
    """A ULID: unique, and sortable by creation time (its first 48 bits are milliseconds)."""
    return str(ULID())


def custom_prefixes() -> tuple[str, ...]:
    return tuple(getattr(settings, "EVENT_CUSTOM_PREFIXES", ("custom.",)))


def payload_schema(event_type: str) -> type[Payload] | None:
    """The payload model for a type, or None when the type is not accepted."""
    if event_type in PAYLOAD_SCHEMAS:
        return PAYLOAD_SCHEMAS[event_type]
    if event_type.startswith(SYSTEM_PREFIXES + custom_prefixes()):
        return AnyPayload
    return None


class Event(BaseModel):
    """The envelope every fact travels in. Construct with :func:`parse_event` at the edge."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(default_factory=new_event_id, min_length=1, max_length=64)
    type: str = Field(min_length=3, max_length=MAX_TYPE_LENGTH)
    source: str = Field(min_length=1, max_length=100)
    instance: str = Field(default="", max_length=200)
    timestamp: datetime = Field(default_factory=lambda: datetime.now(UTC))
    severity: Severity = "info"
    correlation_id: str | None = Field(default=None, max_length=200)
    payload: dict[str, Any] = Field(default_factory=dict)

    @field_validator("type")
    @classmethod
    def _type_is_namespaced(cls, value: str) -> str:
        if not TYPE_PATTERN.match(value):
            raise ValueError("must be lower-case and namespaced with dots, e.g. 'import.failed'")
        if payload_schema(value) is None:
            allowed = ", ".join(repr(p + "*") for p in custom_prefixes())
            raise ValueError(
                f"unknown event type {value!r}; custom types must start with {allowed}"
            )
        return value

    @field_validator("timestamp")
    @classmethod
    def _timestamp_is_aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("must include a time zone, e.g. '2026-01-31T12:00:00Z'")
        return value.astimezone(UTC)

    @property
    def stream(self) -> str:
        return stream_name(self.type)

    def to_json(self) -> str:
        return self.to_json_bytes().decode()

    def to_json_bytes(self) -> bytes:
        """The wire form on the streams: orjson is about twice as fast as pydantic here."""
        try:
            return orjson.dumps(
                {
                    "id": self.id,
                    "type": self.type,
                    "source": self.source,
                    "instance": self.instance,
                    "timestamp": self.timestamp,
                    "severity": self.severity,
                    "correlation_id": self.correlation_id,
                    "payload": self.payload,
                },
                option=orjson.OPT_UTC_Z,
            )
        except TypeError:  # a payload value orjson refuses (e.g. an int past 64 bits)
            return self.model_dump_json().encode()

    @classmethod
    def from_json(cls, raw: str | bytes) -> Event:
        # pydantic's Rust JSON path is faster than json.loads + model_construct here.
        return cls.model_validate_json(raw)


def stream_name(event_type: str) -> str:
    return f"events:{event_type}"


class EventValidationError(ValueError):
    """One or more events were refused; ``errors`` name the field and the reason for each."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        self.errors = errors
        first = errors[0] if errors else {}
        super().__init__(f"{first.get('field', 'event')}: {first.get('reason', 'invalid')}")


def _describe(exc: ValidationError, *, prefix: str) -> list[dict[str, Any]]:
    described = []
    for error in exc.errors(include_url=False):
        location = [str(part) for part in error["loc"]]
        reason = error["msg"].removeprefix("Value error, ")
        described.append(
            {"field": ".".join([p for p in (prefix, *location) if p]), "reason": reason}
        )
    return described


def parse_event(data: Any, *, index: int | None = None) -> Event:
    """Validate one event from decoded JSON; raises :class:`EventValidationError`."""
    prefix = f"events[{index}]" if index is not None else ""
    if not isinstance(data, dict):
        raise EventValidationError([{"field": prefix or "event", "reason": "must be an object"}])
    try:
        event = Event.model_validate(data)
    except ValidationError as exc:
        raise EventValidationError(_describe(exc, prefix=prefix)) from None
    schema = payload_schema(event.type)
    if schema is not None and schema is not AnyPayload:
        try:
            # Checked for errors only: the payload travels as sent, extra fields included.
            schema.model_validate(event.payload)
        except ValidationError as exc:
            payload_prefix = f"{prefix}.payload" if prefix else "payload"
            raise EventValidationError(_describe(exc, prefix=payload_prefix)) from None
    return event


def parse_events(items: list[Any]) -> list[Event]:
    """Validate a batch all-or-nothing: every error of every event, or every event."""
    events: list[Event] = []
    errors: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        try:
            events.append(parse_event(item, index=index))
        except EventValidationError as exc:
            errors.extend(exc.errors)
    if errors:
        raise EventValidationError(errors)
    return events
