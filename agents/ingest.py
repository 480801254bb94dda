"""Ingest: turn what services send over HTTP into validated events on the mesh.

Plain functions, testable without HTTP; ``agents/api.py`` only wires them to routes.
Every refusal is an :class:`IngestRefused` carrying its status, a machine-readable reason
(the label of ``ai_ops_ingest_refused_total``), a message and the failing fields.

The hot path (a batch of 1000 events) costs one JSON parse, one validation pass per event,
one Redis round trip for the token and rate limit and one pipelined publish: the token row
is cached in the process, so no database query is made per request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import math
import os
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

import pydantic_core
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from prometheus_client import Counter, Histogram
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from ulid import ULID

from agents.events import SEVERITIES, Event, EventValidationError, parse_event, parse_events
from agents.mesh import publish_many
from agents.models import TOKEN_LOOKUP_LENGTH, TOKEN_PREFIX, ApiToken, hash_token
from core.redis import get_redis

logger = logging.getLogger(__name__)

INGEST_SECONDS = Histogram(
    "ai_ops_ingest_seconds",
    "Time to validate and publish one ingest request",
    ["endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
INGEST_REFUSED = Counter(
    "ai_ops_ingest_refused", "Ingest requests refused, by reason", ["endpoint", "reason"]
)

TOKEN_CACHE_SECONDS = 60.0
TOKEN_CACHE_MAX_ENTRIES = 10_000
LAST_USED_RESOLUTION = timedelta(minutes=1)
REVOKED_TOKENS_KEY = "aiops:tokens:revoked"
RATE_LIMIT_WINDOW_SECONDS = 60

ModelT = TypeVar("ModelT", bound=BaseModel)
Scope = Literal["events", "logs", "alertmanager", "registry"]


# --- Refusals ------------------------------------------------------------------------------


class IngestRefused(Exception):
    """A request refused before anything was published."""

    def __init__(
        self,
        status: int,
        reason: str,
        detail: str,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.reason = reason
        self.detail = detail
        self.errors = errors or []
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"detail": self.detail}
        if self.errors:
            body["errors"] = self.errors
        return body


def invalid(detail: str, errors: list[dict[str, Any]], reason: str = "invalid") -> IngestRefused:
    return IngestRefused(400, reason, detail, errors)


def unauthorized(detail: str) -> IngestRefused:
    return IngestRefused(
        401, "unauthorized", detail, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
    )


def describe_validation_error(exc: ValidationError, prefix: str = "") -> list[dict[str, Any]]:
    """pydantic errors as ``{"field": "lines[3].message", "reason": ...}``, like events.py."""
    described = []
    for error in exc.errors(include_url=False):
        path = prefix
        for part in error["loc"]:
            path = f"{path}[{part}]" if isinstance(part, int) else f"{path}.{part}".lstrip(".")
        reason = error["msg"].removeprefix("Value error, ")
        described.append({"field": path or "body", "reason": reason})
    return described


# --- Tokens and rate limits ----------------------------------------------------------------


@dataclass(frozen=True)
class TokenIdentity:
    """What a request needs to know about its token (cached; never the secret)."""

    id: int
    name: str
    service: str
    scopes: tuple[str, ...] = ()
    last_used_at: datetime | None = None

    def allows(self, scope: str) -> bool:
        return not self.scopes or scope in self.scopes


@dataclass
class _TokenCache:
    entries: dict[str, tuple[float, TokenIdentity | None]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


_token_cache = _TokenCache()


def clear_token_cache() -> None:
    with _token_cache.lock:
        _token_cache.entries.clear()


def _lookup_token(plaintext: str, digest: str) -> TokenIdentity | None:
    """One indexed query by prefix, then a constant-time comparison of the hashes."""
    token = ApiToken.objects.filter(prefix=plaintext[:TOKEN_LOOKUP_LENGTH]).first()
    if token is None or not token.is_active or not hmac.compare_digest(token.token_hash, digest):
        return None
    return TokenIdentity(
        token.pk, token.name, token.service, tuple(token.scopes or ()), token.last_used_at
    )


def _cached_identity(plaintext: str) -> TokenIdentity | None:
    digest = hash_token(plaintext)
    now = time.monotonic()
    hit = _token_cache.entries.get(digest)
    if hit is not None and hit[0] > now:
        return hit[1]
    identity = _lookup_token(plaintext, digest)
    with _token_cache.lock:
        if len(_token_cache.entries) >= TOKEN_CACHE_MAX_ENTRIES:
            _token_cache.entries.clear()  # a flood of random tokens must not grow memory
        _token_cache.entries[digest] = (now + TOKEN_CACHE_SECONDS, identity)
    return identity


def _touch(identity: TokenIdentity, plaintext: str) -> TokenIdentity:
    """Record use at most once a minute per token (a conditional UPDATE, so many processes
    still write about once a minute)."""
    now = timezone.now()
    if identity.last_used_at and now - identity.last_used_at < LAST_USED_RESOLUTION:
        return identity
    ApiToken.objects.filter(pk=identity.id).exclude(
        last_used_at__gte=now - LAST_USED_RESOLUTION
    ).update(last_used_at=now)
    touched = replace(identity, last_used_at=now)
    with _token_cache.lock:
        digest = hash_token(plaintext)
        if digest in _token_cache.entries:
            _token_cache.entries[digest] = (_token_cache.entries[digest][0], touched)
    return touched


def mark_revoked(token_id: int) -> None:
    """Tell every process at once (cached identities are checked against this set)."""
    get_redis().sadd(REVOKED_TOKENS_KEY, token_id)


def revoke_token(token: ApiToken) -> bool:
    """Revoke in the database and, after commit, in Redis, so no cache keeps it alive."""
    revoked = token.revoke()
    if revoked:
        transaction.on_commit(lambda: mark_revoked(token.pk))
    return revoked


def authorize(plaintext: str, *, scope: Scope, rate_limited: bool) -> TokenIdentity:
    """The token's identity, or :class:`IngestRefused` (401, 403 or 429).

    Revocation and the rate limit are checked in one Redis round trip. The limit is a fixed
    one-minute window per token (a batch is one request); refused requests count too, so a
    client hammering past its limit does not gain from it.
    """
    if not plaintext.startswith(TOKEN_PREFIX):
        raise unauthorized("malformed token")
    identity = _cached_identity(plaintext)
    if identity is None:
        raise unauthorized("unknown or revoked token")
    now = time.time()
    window = int(now // RATE_LIMIT_WINDOW_SECONDS)
    pipe = get_redis().pipeline(transaction=False)
    pipe.sismember(REVOKED_TOKENS_KEY, identity.id)
    if rate_limited:
        key = f"aiops:ratelimit:{identity.id}:{window}"
        pipe.incr(key)
        pipe.expire(key, RATE_LIMIT_WINDOW_SECONDS * 2)
    replies = pipe.execute()
    if replies[0]:
        raise unauthorized("unknown or revoked token")
    if not identity.allows(scope):
        raise IngestRefused(403, "forbidden", f"this token may not use {scope!r}")
    if rate_limited and replies[1] > settings.INGEST_RATE_LIMIT_PER_MINUTE:
        retry_after = math.ceil((window + 1) * RATE_LIMIT_WINDOW_SECONDS - now)
        raise IngestRefused(
            429,
            "rate_limited",
            f"rate limit of {settings.INGEST_RATE_LIMIT_PER_MINUTE} requests per minute "
            f"exceeded; retry in {retry_after}s",
            headers={"Retry-After": str(max(1, retry_after))},
        )
    return _touch(identity, plaintext)


# --- Bodies -----------------------------------------------------------------------------


def check_declared_length(content_length: str | None) -> None:
    """Refuse by the Content-Length header before the body is read into memory."""
    if content_length and content_length.isdigit():
        _check_length(int(content_length))


def _check_length(length: int) -> None:
    limit = settings.INGEST_MAX_BODY_BYTES
    if length > limit:
        raise IngestRefused(
            413, "too_large", f"request body is {length} bytes; the limit is {limit} bytes"
        )


def decode_json(body: bytes) -> Any:
    """Parse the body once (pydantic's Rust parser); 413 past the size limit, 400 if malformed."""
    _check_length(len(body))
    if not body.strip():
        raise invalid(
            "request body is empty",
            [{"field": "body", "reason": "a JSON body is required"}],
            "malformed",
        )
    try:
        return pydantic_core.from_json(body)
    except ValueError as exc:
        raise invalid(
            "request body is not valid JSON",
            [{"field": "body", "reason": str(exc)}],
            "malformed",
        ) from None


def validate(model: type[ModelT], data: Any) -> ModelT:
    """Validate decoded JSON against a pydantic model; 400 naming each bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = describe_validation_error(exc)
        raise invalid(f"{len(errors)} invalid field(s); nothing was accepted", errors) from None


def _check_count(items: Any, name: str) -> list[Any]:
    if not isinstance(items, list):
        raise invalid(f"'{name}' must be a list", [{"field": name, "reason": "must be a list"}])
    if not items:
        raise invalid(f"'{name}' is empty", [{"field": name, "reason": "must not be empty"}])
    limit = settings.INGEST_MAX_BATCH_EVENTS
    if len(items) > limit:
        raise invalid(
            f"too many {name}: {len(items)} (at most {limit} per request)",
            [{"field": name, "reason": f"at most {limit} items per request, got {len(items)}"}],
            "too_many",
        )
    return items


def _validated(items: list[dict[str, Any]], *, rename: str = "events") -> list[Event]:
    """All-or-nothing validation through the schema's own ``parse_events``; errors name the
    item as the client sent it (``events[3]``, ``lines[3]``, ``alerts[3]``)."""
    try:
        return parse_events(items)
    except EventValidationError as exc:
        errors = exc.errors
        if rename != "events":
            errors = [
                {**e, "field": e["field"].replace("events[", f"{rename}[", 1)} for e in errors
            ]
        raise _invalid_events(errors) from None


def _invalid_events(errors: list[dict[str, Any]]) -> IngestRefused:
    bad = sorted({e["field"].split("]")[0] + "]" for e in errors if "[" in e["field"]})
    which = f" ({', '.join(bad[:10])})" if bad else ""
    return invalid(f"{len(errors)} invalid field(s); nothing was accepted{which}", errors)


_CROCKFORD = bytes.maketrans(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", b"0123456789ABCDEFGHJKMNPQRSTVWXYZ"
)


def mint_event_ids(count: int) -> list[str]:
    """``count`` ULIDs of this millisecond, increasing within the batch, minted together.

    Same format as ``events.new_event_id`` (48-bit time, 80-bit randomness, Crockford
    base32) at a third of the cost: python-ulid builds each id in Python, a tenth of the
    server time of a 1000-event batch. The last 16 characters of a ULID encode exactly its
    80 random bits, so one base32 pass encodes the randomness of the whole batch.
    """
    head = str(ULID())[:10]  # the time part
    base = int.from_bytes(os.urandom(10), "big") >> 1  # top bit clear: +count never overflows
    raw = b"".join((base + i).to_bytes(10, "big") for i in range(count))
    tails = base64.b32encode(raw).translate(_CROCKFORD).decode()
    return [head + tails[i : i + 16] for i in range(0, 16 * count, 16)]


def _fill_defaults(items: list[Any], source: str) -> None:
    """Fill what the client left out: the token's service as source, and a minted id."""
    missing_ids = [item for item in items if isinstance(item, dict) and item.get("id") is None]
    for item, event_id in zip(missing_ids, mint_event_ids(len(missing_ids)), strict=True):
        item["id"] = event_id
    for item in items:
        if isinstance(item, dict) and item.get("source") is None:
            item["source"] = source


def accept(events: list[Event]) -> dict[str, Any]:
    """Publish in one pipelined round trip; the 202 body."""
    publish_many(events)
    return {"accepted": len(events), "ids": [event.id for event in events]}


# --- POST /api/v1/events -------------------------------------------------------------------


def events_from_body(data: Any, *, default_source: str) -> list[Event]:
    """One event object, or ``{"events": [...]}``; the token's service fills a missing source."""
    if isinstance(data, dict) and "events" in data and "type" not in data:
        extra = sorted(set(data) - {"events"})
        if extra:
            raise invalid(
                "a batch holds only 'events'",
                [{"field": name, "reason": "Extra inputs are not permitted"} for name in extra],
            )
        items = _check_count(data["events"], "events")
    elif isinstance(data, dict):
        # One event: its errors name its fields without an index ("payload.import_id").
        _fill_defaults([data], default_source)
        try:
            return [parse_event(data)]
        except EventValidationError as exc:
            raise _invalid_events(exc.errors) from None
    else:
        raise invalid(
            'body must be an event object or {"events": [...]}',
            [{"field": "body", "reason": "must be an object"}],
        )
    _fill_defaults(items, default_source)
    return _validated(items)


# --- POST /api/v1/logs ---------------------------------------------------------------------

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
        _check_count(data["lines"], "lines")
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
    return _validated(items, rename="lines")


# --- POST /api/v1/alertmanager ------------------------------------------------------------

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
        _check_count(data["alerts"], "alerts")
    hook = validate(AlertmanagerWebhook, data)
    if hook.truncated_alerts:
        logger.warning(
            "alertmanager truncated alerts",
            extra={"group_key": hook.group_key, "truncated": hook.truncated_alerts},
        )
    items = [_alert_item(alert, hook, default_source) for alert in hook.alerts]
    return _validated(items, rename="alerts")
