"""The HTTP API (django-ninja), mounted at ``/api/``: docs at ``/api/docs``, schema at
``/api/openapi.json``.

Views stay thin: they read the body and call the ingest modules or ``agents/service_registry.py``.
Bodies are parsed by us rather than by ninja, once, with pydantic's JSON parser: this keeps
the size checks ahead of parsing, makes every bad input a 400 with the same
``{"detail", "errors": [{"field", "reason"}]}`` shape (ninja would answer 422), and saves a
second pass over large batches. The request schemas are still published in the OpenAPI
document through ``openapi_extra``.

Status codes: 202 accepted; 400 malformed JSON, wrong types, missing fields, unknown event
type or more than ``INGEST_MAX_BATCH_EVENTS`` items; 401 missing, unknown or revoked token
(with ``WWW-Authenticate: Bearer``); 403 token scope; 404 unknown service or instance; 413
body over ``INGEST_MAX_BODY_BYTES``; 429 rate limit (with ``Retry-After``); 503 Redis down
(with ``Retry-After``).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import redis
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI, Schema, Status
from ninja.errors import AuthenticationError, ValidationError
from ninja.security import HttpBearer, SessionAuthIsStaff
from pydantic import BaseModel

from agents import service_registry
from agents.control_urls import ControlUrlRefused, check_control_url
from agents.events import Event
from agents.ingest import alertmanager, bodies, caps, logs, tokens, trust
from agents.ingest.refusals import INGEST_REFUSED, INGEST_SECONDS, IngestRefused, invalid
from agents.ingest.tokens import Scope, TokenIdentity
from knowledge.api import router as knowledge_router

logger = logging.getLogger(__name__)

api = NinjaAPI(
    title="AI-Ops Core",
    version="1",
    description="Ingest events, log lines and Alertmanager alerts; register services.",
    urls_namespace="api",
    docs_url="/docs",
)


class BearerToken(HttpBearer):
    """A per-service API token; ingest endpoints also count against the token's rate limit."""

    def __init__(self, scope: Scope, *, rate_limited: bool) -> None:
        super().__init__()
        self.scope: Scope = scope
        self.rate_limited = rate_limited

    def authenticate(self, request: HttpRequest, token: str) -> TokenIdentity:
        return tokens.authorize(token, scope=self.scope, rate_limited=self.rate_limited)


# --- Schemas for the OpenAPI document and responses -----------------------------------------


class FieldError(Schema):
    field: str
    reason: str


class Problem(Schema):
    detail: str
    errors: list[FieldError] = []


class Accepted(Schema):
    accepted: int
    ids: list[str]


class InstanceOut(Schema):
    service: str
    instance: str
    status: str
    version: str
    base_url: str
    health_url: str
    tags: dict[str, Any]
    heartbeat_ttl_seconds: int
    last_heartbeat_at: datetime | None
    last_check_result: str | None
    last_check_latency_ms: float | None
    last_checked_at: datetime | None


class InstanceList(Schema):
    service: str
    instances: list[InstanceOut]


PROBLEMS = {400: Problem, 401: Problem, 403: Problem, 413: Problem, 429: Problem, 503: Problem}


def _inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with its ``$defs`` inlined (openapi_extra has no components)."""
    schema = model.model_json_schema(by_alias=True)
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    return resolve(schema)


def _body_doc(schema: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


_EVENT_SCHEMA = _inline_schema(Event)
# Over HTTP the token's service fills a missing source.
_EVENT_SCHEMA["required"] = [name for name in _EVENT_SCHEMA["required"] if name != "source"]
_EVENTS_BODY = _body_doc(
    {
        "oneOf": [
            _EVENT_SCHEMA,
            {
                "type": "object",
                "properties": {"events": {"type": "array", "items": _EVENT_SCHEMA}},
                "required": ["events"],
            },
        ]
    }
)


# --- Errors ------------------------------------------------------------------------------------


def _endpoint(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    return (match.url_name if match else None) or "unknown"


def _problem(request: HttpRequest, refused: IngestRefused) -> HttpResponse:
    INGEST_REFUSED.labels(_endpoint(request), refused.reason).inc()
    response = api.create_response(request, refused.body(), status=refused.status)
    for name, value in refused.headers.items():
        response[name] = value
    return response


@api.exception_handler(IngestRefused)
def on_refused(request: HttpRequest, exc: IngestRefused) -> HttpResponse:
    return _problem(request, exc)


@api.exception_handler(AuthenticationError)
def on_missing_token(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    # ninja raises this when no "Authorization: Bearer ..." header was sent at all.
    refused = IngestRefused(
        401,
        "unauthorized",
        "missing bearer token (Authorization: Bearer <token>)",
        headers={"WWW-Authenticate": "Bearer"},
    )
    return _problem(request, refused)


@api.exception_handler(ValidationError)
def on_invalid_params(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    # Query and path parameters are the only things ninja validates here: 400, not 422.
    errors = [
        {"field": ".".join(str(p) for p in e.get("loc", ())[1:]) or "query", "reason": e["msg"]}
        for e in exc.errors
    ]
    return _problem(request, invalid("invalid parameters", errors))


@api.exception_handler(DatabaseError)
def on_database_unavailable(request: HttpRequest, exc: DatabaseError) -> HttpResponse:
    logger.error("database unavailable", exc_info=exc)
    refused = IngestRefused(
        503, "unavailable", "the database is unavailable; retry later", headers={"Retry-After": "5"}
    )
    return _problem(request, refused)


@api.exception_handler(redis.RedisError)
def on_mesh_unavailable(request: HttpRequest, exc: redis.RedisError) -> HttpResponse:
    # The SDK retries 503s with backoff; a bare 500 would read as a bug in the request.
    logger.error("event mesh unavailable", exc_info=exc)
    refused = IngestRefused(
        503,
        "unavailable",
        "the event mesh is unavailable; retry later",
        headers={"Retry-After": "5"},
    )
    return _problem(request, refused)


def _json_body(request: HttpRequest) -> Any:
    """The decoded body, refused by its declared length before it is read, then by its real
    length (a chunked upload declares none)."""
    bodies.check_declared_length(request.META.get("CONTENT_LENGTH"))
    try:
        body = request.body
    except RequestDataTooBig:
        raise IngestRefused(413, "too_large", "request body is too large") from None
    return bodies.decode_json(body)


# --- Ingest ------------------------------------------------------------------------------------


@api.post(
    "/v1/events",
    auth=BearerToken("events", rate_limited=True),
    response={202: Accepted, **PROBLEMS},
    url_name="events",
    summary="Publish one event or a batch",
    openapi_extra=_EVENTS_BODY,
)
def post_events(request: HttpRequest) -> Status[dict[str, Any]]:
    """One event object, or ``{"events": [...]}`` (all-or-nothing). A missing ``source`` is
    the token's service."""
    with INGEST_SECONDS.labels("events").time():
        data = _json_body(request)
        events = bodies.events_from_body(data, default_source=request.auth.service)
        single = not (isinstance(data, dict) and "events" in data and "type" not in data)
        trust.check_speaker(events, request.auth, items="events", single=single)
        caps.check_caps(events, request.auth)
        return Status(202, bodies.accept(events))


@api.post(
    "/v1/logs",
    auth=BearerToken("logs", rate_limited=True),
    response={202: Accepted, **PROBLEMS},
    url_name="logs",
    summary="Publish log lines as log.line events",
    openapi_extra=_body_doc(_inline_schema(logs.LogBatchIn)),
)
def post_logs(request: HttpRequest) -> Status[dict[str, Any]]:
    """``{"service"?, "instance"?, "lines": [{"level", "message", ...}]}`` or one line."""
    with INGEST_SECONDS.labels("logs").time():
        data = _json_body(request)
        if isinstance(data, dict) and isinstance(data.get("service"), str):
            trust.check_service(data["service"], request.auth, field="service")
        events = logs.events_from_logs(data, default_source=request.auth.service)
        return Status(202, bodies.accept(events))


@api.post(
    "/v1/alertmanager",
    auth=BearerToken("alertmanager", rate_limited=True),
    response={202: Accepted, **PROBLEMS},
    url_name="alertmanager",
    summary="Prometheus Alertmanager webhook receiver (version 4)",
    openapi_extra=_body_doc(_inline_schema(alertmanager.AlertmanagerWebhook)),
)
def post_alertmanager(request: HttpRequest) -> Status[dict[str, Any]]:
    """One ``alert.firing`` / ``alert.resolved`` event per alert, labels and annotations kept."""
    with INGEST_SECONDS.labels("alertmanager").time():
        data = _json_body(request)
        events = alertmanager.events_from_alertmanager(data, default_source=request.auth.service)
        trust.check_speaker(events, request.auth, items="alerts")
        return Status(202, bodies.accept(events))


# --- Service registry --------------------------------------------------------------------------

_REGISTRY_AUTH = BearerToken("registry", rate_limited=False)


@api.post(
    "/v1/services/register",
    auth=_REGISTRY_AUTH,
    response={201: InstanceOut, **PROBLEMS},
    url_name="register",
    summary="Register (or re-register) a service instance",
    openapi_extra=_body_doc(_inline_schema(service_registry.Registration)),
)
def register_instance(request: HttpRequest) -> Status[dict[str, Any]]:
    registration = bodies.validate(service_registry.Registration, _json_body(request))
    service = registration.service or request.auth.service
    trust.check_service(service, request.auth, field="service")
    if registration.control_url:
        try:
            check_control_url(str(registration.control_url))
        except ControlUrlRefused as exc:
            raise invalid(
                "control_url refused", [{"field": "control_url", "reason": str(exc)}], "forbidden"
            ) from None
    try:
        instance = service_registry.register(
            registration, service=service, may_change_control_url=request.auth.grants("control")
        )
    except service_registry.ControlUrlLocked as exc:
        raise IngestRefused(
            403, "forbidden", str(exc), [{"field": "control_url", "reason": str(exc)}]
        ) from None
    return Status(201, service_registry.instance_summary(instance))


@api.post(
    "/v1/services/{name}/instances/{instance}/heartbeat",
    auth=_REGISTRY_AUTH,
    response={200: InstanceOut, 404: Problem, **PROBLEMS},
    url_name="heartbeat",
    summary="Say an instance is alive",
)
def heartbeat(request: HttpRequest, name: str, instance: str) -> Status[dict[str, Any]]:
    trust.check_service(name, request.auth, field="name")
    found = service_registry.record_instance_heartbeat(name, instance)
    if found is None:
        return Status(404, {"detail": f"instance {name}/{instance} is not registered; register it"})
    return Status(200, service_registry.instance_summary(found))


@api.get(
    "/v1/services/{name}/instances",
    auth=_REGISTRY_AUTH,
    response={200: InstanceList, 404: Problem, **PROBLEMS},
    url_name="instances",
    summary="Discover a service's instances (healthy=1: only up or degraded ones)",
)
def list_instances(
    request: HttpRequest, name: str, healthy: bool = False
) -> Status[dict[str, Any]]:
    instances = service_registry.list_instances(name, healthy_only=healthy)
    if instances is None:
        return Status(404, {"detail": f"unknown service {name!r}"})
    return Status(
        200,
        {"service": name, "instances": [service_registry.instance_summary(i) for i in instances]},
    )


# Knowledge is read-only: a token with the knowledge scope (not rate limited) or a staff session.
api.add_router(
    "/v1/knowledge",
    knowledge_router,
    auth=[BearerToken("knowledge", rate_limited=False), SessionAuthIsStaff()],
)
