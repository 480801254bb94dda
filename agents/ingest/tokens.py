"""API tokens and rate limits: who is calling, may they, and how often.

The token row is cached in the process, so the hot path makes no database query; revocation
and the rate limit are checked in one Redis round trip."""

from __future__ import annotations

import hmac
import logging
import math
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone

from agents.ingest.refusals import IngestRefused, unauthorized
from agents.models import TOKEN_LOOKUP_LENGTH, TOKEN_PREFIX, ApiToken, hash_token
from core.redis import get_redis

logger = logging.getLogger(__name__)

TOKEN_CACHE_SECONDS = 60.0
TOKEN_CACHE_MAX_ENTRIES = 10_000
LAST_USED_RESOLUTION = timedelta(minutes=1)
REVOKED_TOKENS_KEY = "aiops:tokens:revoked"
RATE_LIMIT_WINDOW_SECONDS = 60

Scope = Literal["events", "logs", "alertmanager", "registry", "knowledge", "incidents", "control"]


@dataclass(frozen=True)
class TokenIdentity:
    """What a request needs to know about its token (cached; never the secret)."""

    id: int
    name: str
    service: str
    scopes: tuple[str, ...] = ()
    last_used_at: datetime | None = None
    also_services: tuple[str, ...] = ()

    def allows(self, scope: str) -> bool:
        return not self.scopes or scope in self.scopes

    def grants(self, scope: str) -> bool:
        """A scope that must be named explicitly (a token without scopes lacks it)."""
        return scope in self.scopes

    def speaks_for(self, service: str) -> bool:
        return service == self.service or service in self.also_services


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
        token.pk,
        token.name,
        token.service,
        tuple(token.scopes or ()),
        token.last_used_at,
        tuple(token.also_services or ()),
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
    try:
        ApiToken.objects.filter(pk=identity.id).exclude(
            last_used_at__gte=now - LAST_USED_RESOLUTION
        ).update(last_used_at=now)
    except DatabaseError:  # a cached, valid token still works while PostgreSQL is away
        logger.warning("could not record token use: database unavailable")
        return identity
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
    try:
        identity = _cached_identity(plaintext)
    except DatabaseError:
        logger.exception("token lookup failed: database unavailable")
        raise IngestRefused(
            503,
            "unavailable",
            "the database is unavailable; retry later",
            headers={"Retry-After": "5"},
        ) from None
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
