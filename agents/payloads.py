"""Payload schemas of the managed application's event types (the domain events).

Known types have a payload schema (required fields, types); extra fields are kept, so
services may add context. The system's own families are in ``system_events.py``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Payload(BaseModel):
    """Base of the per-type payloads: unknown fields are kept, known ones are checked."""

    model_config = ConfigDict(extra="allow")


class ExceptionFrame(BaseModel):
    """One stack frame as the SDK sends it; ``in_app`` frames are the service's own code."""

    model_config = ConfigDict(extra="ignore")

    module: str = Field(default="", max_length=300)
    function: str = Field(default="", max_length=300)
    lineno: int | None = None
    context_line: str = Field(default="", max_length=1000)
    in_app: bool = True


class ExceptionInfo(BaseModel):
    """A structured exception (``aiops_sdk.exceptions``): what problems are grouped by."""

    model_config = ConfigDict(extra="ignore")

    type: str = Field(min_length=1, max_length=300)
    message: str = Field(default="", max_length=10_000)
    frames: list[ExceptionFrame] = Field(default_factory=list, max_length=200)


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
    exception: ExceptionInfo | None = None
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
    exception: ExceptionInfo | None = None


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
    """Custom event families carry any object."""


DOMAIN_PAYLOADS: dict[str, type[Payload]] = {
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
