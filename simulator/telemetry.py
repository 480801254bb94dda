"""How the simulated services report into AI-Ops Core: one SDK client and one error logger
per service, and the web tier's middleware configured through ``settings.AIOPS`` as in a
real Django app. Everything the simulator emits goes through here."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings

from agents.events import parse_event
from aiops_sdk import AIOpsClient
from aiops_sdk.django import get_client, reset_client
from aiops_sdk.logs import LogHandler
from core.redis import get_redis
from simulator.deployment import SERVICES, instance_of

#: Five clients (four services and the middleware's) share one token: at one request per
#: second each they stay under the ingest's default 600 requests/minute per token.
FLUSH_INTERVAL_S = 1.0


def mesh_transport() -> Any:
    """The SDK's direct-to-Redis transport on this project's Redis, checking each event
    against this project's schema as it is emitted (the SDK itself knows neither)."""
    from aiops_sdk.redis_transport import RedisTransport

    return RedisTransport(
        client=get_redis(), validate=parse_event, maxlen=settings.EVENT_STREAM_MAXLEN
    )


class Telemetry:
    """The services' SDK clients and loggers; ``close`` puts ``settings.AIOPS`` back."""

    def __init__(self, url: str | None, token: str | None, *, redis_direct: bool) -> None:
        self.url, self.token, self.redis_direct = url, token, redis_direct
        self.clients = {service: self._client(service) for service in SERVICES}
        self.loggers = {service: self._logger(service) for service in SERVICES}
        self._configure_middleware()

    def _client(self, service: str) -> AIOpsClient:
        kwargs: dict[str, Any] = {"service": service, "instance": instance_of(service),
                                  "flush_interval": FLUSH_INTERVAL_S}  # fmt: skip
        if self.redis_direct:
            kwargs["transport"] = mesh_transport()
        return AIOpsClient(self.url, self.token, **kwargs)

    def _logger(self, service: str) -> logging.Logger:
        log = logging.getLogger(f"simulator.bookmarks.{service}")
        log.handlers = [LogHandler(self.clients[service])]
        log.propagate = False  # the service's errors are telemetry, not our console noise
        return log

    def _configure_middleware(self) -> None:
        """The web tier's middleware finds its client in settings.AIOPS, as in a real app."""
        aiops: dict[str, Any] = {"SERVICE": "bookmarks", "INSTANCE": instance_of("bookmarks"),
                                 "FLUSH_INTERVAL": FLUSH_INTERVAL_S}  # fmt: skip
        if self.redis_direct:
            aiops.update(TRANSPORT="redis", VALIDATE=parse_event,
                         STREAM_MAXLEN=settings.EVENT_STREAM_MAXLEN)  # fmt: skip
        else:
            aiops.update(URL=self.url, TOKEN=self.token)
        self._previous_aiops = getattr(settings, "AIOPS", None)
        settings.AIOPS = aiops
        reset_client()

    def emit(self, service: str, event_type: str, payload: dict[str, Any], **kwargs: Any) -> None:
        self.clients[service].emit(event_type, payload, **kwargs)

    def log_error(self, service: str, text: str) -> None:
        self.loggers[service].error(text)

    def flush(self, timeout: float = 10.0) -> bool:
        ok = all(client.flush(timeout) for client in self.clients.values())
        return get_client().flush(timeout) and ok

    def close(self) -> None:
        """Close the clients (what they hold is sent) and restore the middleware's settings."""
        for client in self.clients.values():
            client.close(timeout=5)
        reset_client()
        if self._previous_aiops is None:
            del settings.AIOPS
        else:
            settings.AIOPS = self._previous_aiops
