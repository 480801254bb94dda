"""The event schema: validated once, at the edge (ingest API, SDK); trusted inside the mesh.

An event is an envelope (id, type, source, instance, timestamp, severity, correlation id) and
a JSON payload. Known types have a payload schema: the managed application's in
``payloads.py`` (extra fields are kept, so services may add context), the system's own
families (``agent.*``, ``problem.*``, ``diagnosis.*``, ``remediation.*``, ``anomaly.*``) in
``system_events.py`` (strict, built only by :func:`system_event`). Other types are accepted
only under the configured custom prefixes (``EVENT_CUSTOM_PREFIXES``), with any object.
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

from agents.payloads import DOMAIN_PAYLOADS, AnyPayload
from agents.system_events import SYSTEM_PAYLOADS, SYSTEM_PREFIXES, SystemPayload

Severity = Literal["debug", "info", "warning", "error", "critical"]
SEVERITIES: tuple[str, ...] = ("debug", "info", "warning", "error", "critical")
TYPE_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
MAX_TYPE_LENGTH = 100


PAYLOAD_SCHEMAS: dict[str, type[BaseModel]] = {**DOMAIN_PAYLOADS, **SYSTEM_PAYLOADS}


def new_event_id() -> str:
    """A ULID: unique, and sortable by creation time (its first 48 bits are milliseconds)."""
    return str(ULID())


def custom_prefixes() -> tuple[str, ...]:
    return tuple(getattr(settings, "EVENT_CUSTOM_PREFIXES", ("custom.",)))


def payload_schema(event_type: str) -> type[BaseModel] | None:
    """The payload model for a type, or None when the type is not accepted."""
    if event_type in PAYLOAD_SCHEMAS:
        return PAYLOAD_SCHEMAS[event_type]
    if event_type.startswith(SYSTEM_PREFIXES):
        return None  # the system's families are closed: every type has its schema
    if event_type.startswith(custom_prefixes()):
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
            # The model's __dict__ holds exactly the fields, in declaration order (the key
            # order the SDK writes too): no per-event dict to build on the publish hot path.
            return orjson.dumps(self.__dict__, option=orjson.OPT_UTC_Z)
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


def system_event(
    event_type: str,
    payload: SystemPayload,
    *,
    source: str = "aiops",
    instance: str = "",
    severity: Severity = "info",
    correlation_id: str | None = None,
) -> Event:
    """The one constructor of the system's own events: the payload must be the model
    registered for the type, so a producer cannot drift from what consumers read."""
    expected = SYSTEM_PAYLOADS.get(event_type)
    if expected is None or not isinstance(payload, expected):
        wanted = expected.__name__ if expected else "no payload (unknown system event type)"
        raise TypeError(f"{event_type} takes {wanted}, not {type(payload).__name__}")
    return Event(
        type=event_type,
        source=source,
        instance=instance,
        severity=severity,
        correlation_id=correlation_id,
        payload=payload.model_dump(mode="json"),
    )
