"""Settings for AI-Ops Core, read from the environment (one file, no per-environment forks).

Every value an operator may change is an environment variable, listed in the README.
Bad values stop the process at start-up with ``ImproperlyConfigured`` rather than being
silently replaced. With no ``DATABASE_URL`` / ``REDIS_URL``, real embedded PostgreSQL and
Redis are started (or reused) under ``AIOPS_VAR_DIR`` (see ``aiops_site/embedded.py``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path
from urllib.parse import urlparse, urlunparse

from django.core.exceptions import ImproperlyConfigured

from aiops_site import embedded
from aiops_site.database.config import database_settings
from aiops_site.env import env_bool, env_choice, env_int, env_list, env_networks, env_str
from aiops_site.logging_config import logging_config
from core import redis_retry

BASE_DIR = Path(__file__).resolve().parent.parent


# pytest exports PYTEST_VERSION for its whole session (and the processes it starts), so test
# runs use their own Redis database and never touch a running stack's streams.
TESTING = "PYTEST_VERSION" in os.environ

VAR_DIR = Path(env_str("AIOPS_VAR_DIR", str(BASE_DIR / "var"))).resolve()

DEBUG = env_bool("DEBUG", False)


def _secret_key() -> str:
    key = env_str("SECRET_KEY")
    if key:
        return key
    if env_str("DATABASE_URL"):
        raise ImproperlyConfigured("SECRET_KEY must be set when DATABASE_URL points elsewhere")
    # Embedded, single-machine mode: one random key kept under var/ so sessions survive restarts.
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
# The audit chain's HMAC key (remediation/audit.py), never stored in the database. Set it
# apart from SECRET_KEY in production: derived from it by default, so rotating SECRET_KEY
# without setting AIOPS_AUDIT_KEY to the old derived key makes the old chain unverifiable.
AUDIT_KEY = (
    env_str("AIOPS_AUDIT_KEY")
    or hmac.new(SECRET_KEY.encode(), b"aiops-audit-chain", hashlib.sha256).hexdigest()
)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")
PORT = env_int("PORT", 8000, minimum=1)

# --- Backing services --------------------------------------------------------------------

_embedded = embedded.servers_for_this_process(
    VAR_DIR,
    need_database=not env_str("DATABASE_URL"),
    need_redis=not env_str("REDIS_URL"),
)
DATABASE_URL = env_str("DATABASE_URL") or _embedded.database_url
REDIS_URL = env_str("REDIS_URL") or _embedded.redis_url
REDIS_TEST_DB = env_int("REDIS_TEST_DB", 15)


def _with_redis_db(url: str, db: int) -> str:
    parsed = urlparse(url)
    if parsed.scheme not in {"redis", "rediss"}:
        raise ImproperlyConfigured(f"REDIS_URL={url!r} must start with redis:// or rediss://")
    return urlunparse(parsed._replace(path=f"/{db}"))


if TESTING:
    REDIS_URL = _with_redis_db(REDIS_URL, REDIS_TEST_DB)
else:
    _with_redis_db(REDIS_URL, 0)  # validates the scheme

# The runtime role (DATABASE_URL), the owner (migrate, flush) and, for tests only, an
# administrator that creates databases and ends sessions: aiops_site/database/config.py.
# Unset with an external DATABASE_URL: one role does everything (aiops.W007).
DATABASE_MIGRATE_URL = env_str("DATABASE_MIGRATE_URL") or (
    "" if env_str("DATABASE_URL") else embedded.owner_url(DATABASE_URL)
)
DATABASE_TEST_ADMIN_URL = env_str("DATABASE_TEST_ADMIN_URL") or (
    "" if env_str("DATABASE_URL") else embedded.test_admin_url(DATABASE_URL)
)
AIOPS_DB_SCHEMA = env_str("AIOPS_DB_SCHEMA").strip()
DATABASES = {
    "default": database_settings(
        DATABASE_URL,
        migrate_url=DATABASE_MIGRATE_URL,
        test_admin_url=DATABASE_TEST_ADMIN_URL,
        schema=AIOPS_DB_SCHEMA,
        test_name=env_str("AIOPS_TEST_DB_NAME"),
        testing=TESTING,
    )
}
# Who the audit grants of remediation migration 0007 are pinned for.
DATABASE_RUNTIME_ROLE = str(DATABASES["default"].get("USER") or "")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {
    "default": {
        "BACKEND": "django_prometheus.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "aiops:cache",
        "OPTIONS": redis_retry.sync_options(),
    }
}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [{"address": REDIS_URL, **redis_retry.async_options()}],
            "prefix": "aiops:channels",
            # The default of 100 is shared by every consumer of a process and drops silently
            # past it; the dashboard coalesces updates, and this leaves headroom for bursts.
            "capacity": env_int("CHANNEL_LAYER_CAPACITY", 2000, minimum=100),
            "expiry": 30,
        },
    }
}

# --- Celery --------------------------------------------------------------------------------

CELERY_BROKER_URL = REDIS_URL
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 3600,
    **redis_retry.celery_transport_options(),
}
# A Redis restart must never end a worker or beat: reconnect forever (with Celery's backoff).
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
HEARTBEAT_INTERVAL_SECONDS = env_int("HEARTBEAT_INTERVAL_SECONDS", 10, minimum=1)
HEARTBEAT_STALE_SECONDS = env_int("HEARTBEAT_STALE_SECONDS", 60, minimum=2)
CELERY_BEAT_SCHEDULE = {
    "record-worker-heartbeat": {
        "task": "agents.tasks.record_worker_heartbeat",
        "schedule": float(HEARTBEAT_INTERVAL_SECONDS),
    },
    "check-service-health": {
        "task": "agents.tasks.check_service_health",
        "schedule": 30.0,
        # A check queued while workers were down is worthless by the time it would run.
        "options": {"expires": 25},
    },
    "trim-event-streams": {
        "task": "agents.tasks.trim_event_streams",
        "schedule": 600.0,
        "options": {"expires": 300},
    },
    "prune-counted-events": {
        "task": "agents.tasks.prune_counted_events",
        "schedule": 3600.0,
        "options": {"expires": 1800},
    },
    # Fingerprint merges not yet followed by a sighting (one problem per kind of error).
    "sweep-fingerprint-aliases": {
        "task": "agents.tasks.sweep_fingerprint_aliases",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
}

# Agents: which modules register them, whether workers run them, when they count as down.
AGENT_MODULES = env_list(
    "AGENT_MODULES",
    "agents.monitor.agent,agents.diagnostic.agent,agents.learning.agent,"
    "dashboard.relay,remediation.agent",
)
RUN_AGENTS_IN_WORKERS = env_bool("RUN_AGENTS_IN_WORKERS", True)
AGENT_HEARTBEAT_SECONDS = env_int("AGENT_HEARTBEAT_SECONDS", 5, minimum=1)
AGENT_DOWN_AFTER_SECONDS = env_int("AGENT_DOWN_AFTER_SECONDS", 30, minimum=2)
CELERY_BEAT_SCHEDULE["check-agents"] = {
    "task": "agents.tasks.check_agents",
    "schedule": 5.0,
    "options": {"expires": 5},
}
AUDIT_VERIFY_SECONDS = env_int("AUDIT_VERIFY_SECONDS", 900, minimum=10)
CELERY_BEAT_SCHEDULE["verify-audit-chain"] = {
    "task": "remediation.tasks.verify_audit_chain",
    "schedule": float(AUDIT_VERIFY_SECONDS),
    "options": {"expires": AUDIT_VERIFY_SECONDS},
}

# Remediation: approvals expire; commands come only from this allow-list (JSON in the env:
# {"name": {"argv": [...], "flags": [...], "timeout": 30}}), never through a shell.
REMEDIATION_APPROVAL_TTL_SECONDS = env_int("REMEDIATION_APPROVAL_TTL_SECONDS", 3600, minimum=10)
REMEDIATION_ATTEMPT_TIMEOUT_SECONDS = env_int(
    "REMEDIATION_ATTEMPT_TIMEOUT_SECONDS", 900, minimum=10
)
REMEDIATION_CRITICAL_NEEDS_TWO_APPROVERS = env_bool(
    "REMEDIATION_CRITICAL_NEEDS_TWO_APPROVERS", True
)
# An open incident unseen this long resolves itself (remediation/engine/quieting.py: why 15).
INCIDENT_QUIET_MINUTES = env_int("INCIDENT_QUIET_MINUTES", 15, minimum=1)
CELERY_BEAT_SCHEDULE["resolve-quiet-incidents"] = {
    "task": "remediation.tasks.resolve_quiet_incidents",
    "schedule": 60.0, "options": {"expires": 55},
}  # fmt: skip


def _allow_list(name: str, key: str, kind: type) -> dict:
    """A JSON allow-list from the environment, name -> {key: <kind>, ...}: rules name one."""
    try:
        entries = json.loads(env_str(name, "{}"))
    except json.JSONDecodeError as exc:
        raise ImproperlyConfigured(f"{name} is not valid JSON: {exc}") from None
    if not isinstance(entries, dict) or not all(
        isinstance(spec, dict) and isinstance(spec.get(key), kind) for spec in entries.values()
    ):
        raise ImproperlyConfigured(f'{name} must map names to {{"{key}": ...}}')
    return entries


REMEDIATION_COMMANDS = _allow_list("REMEDIATION_COMMANDS", "argv", list)
REMEDIATION_WEBHOOKS = _allow_list("REMEDIATION_WEBHOOKS", "url", str)

# --- Django --------------------------------------------------------------------------------

INSTALLED_APPS = [
    "django_prometheus",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_htmx",
    "template_partials",
    "ninja",
    "aiops_site",
    "agents",
    "knowledge",
    "remediation",
    "dashboard",
    "simulator",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "aiops_site.urls"
ASGI_APPLICATION = "aiops_site.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard:overview"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
# Exact times on Django-rendered pages (the admin) say their zone: aiops_site/formats/.
FORMAT_MODULE_PATH = ["aiops_site.formats"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# Finders serve files straight from the apps in every mode, so no collectstatic step is
# needed to start; `collectstatic` still works for a deployment behind a CDN-less proxy.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True

# --- Logging -------------------------------------------------------------------------------

LOG_LEVEL = env_choice("LOG_LEVEL", "INFO", {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"})
LOG_FORMAT = env_choice("LOG_FORMAT", "json", {"json", "text"})
LOGGING = logging_config(LOG_LEVEL, LOG_FORMAT)

# --- Event mesh ----------------------------------------------------------------------------

EVENT_CUSTOM_PREFIXES = tuple(env_list("EVENT_CUSTOM_PREFIXES", "custom."))
EVENT_STREAM_MAXLEN = env_int("EVENT_STREAM_MAXLEN", 1_000_000, minimum=1000)
EVENT_RETENTION_HOURS = env_int("EVENT_RETENTION_HOURS", 72, minimum=1)
MESH_CLAIM_IDLE_MS = env_int("MESH_CLAIM_IDLE_MS", 30_000, minimum=10)
MESH_MAX_DELIVERIES = env_int("MESH_MAX_DELIVERIES", 5, minimum=1)
MESH_BATCH_SIZE = env_int("MESH_BATCH_SIZE", 100, minimum=1)
INGEST_MAX_BATCH_EVENTS = env_int("INGEST_MAX_BATCH_EVENTS", 1000, minimum=1)
INGEST_MAX_BODY_BYTES = env_int("INGEST_MAX_BODY_BYTES", 1024 * 1024, minimum=1024)
INGEST_RATE_LIMIT_PER_MINUTE = env_int("INGEST_RATE_LIMIT_PER_MINUTE", 600, minimum=1)
# Where remediation may call a service's control API (agents/control_urls.py): CIDRs or exact
# host names. Development (PostgreSQL on this machine's unix socket, as the embedded server
# and its child processes use) allows loopback; a deployment allows nothing until an admin
# names its networks. Link-local/metadata is always refused.
_LOCAL_DATABASE = str(DATABASES["default"].get("HOST") or "").startswith("/")
_DEV_CONTROL_NETWORKS = "127.0.0.0/8,::1/128,localhost" if _LOCAL_DATABASE else ""
CONTROL_URL_ALLOWED_NETWORKS = env_list("CONTROL_URL_ALLOWED_NETWORKS", _DEV_CONTROL_NETWORKS)
# /metrics answers scrapers from these networks (default: loopback and private ranges, where
# Prometheus runs beside the app), or any client sending "Authorization: Bearer <token>".
METRICS_ALLOWED_NETWORKS = env_networks(
    "METRICS_ALLOWED_NETWORKS", "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16"
)
METRICS_BEARER_TOKEN = env_str("METRICS_BEARER_TOKEN")
# How long "this event was counted into a problem" is remembered (redeliveries come within
# minutes; a worker down for longer than this would count its pending events again).
COUNTED_EVENTS_KEPT_HOURS = env_int("COUNTED_EVENTS_KEPT_HOURS", 48, minimum=1)
# Each custom type is a stream and each metric series a detector: bounded per token.
INGEST_MAX_CUSTOM_TYPES_PER_TOKEN = env_int("INGEST_MAX_CUSTOM_TYPES_PER_TOKEN", 50, minimum=1)
INGEST_MAX_METRIC_SERIES_PER_TOKEN = env_int("INGEST_MAX_METRIC_SERIES_PER_TOKEN", 200, minimum=1)
# Ingest bodies are bounded by INGEST_MAX_BODY_BYTES (413); Django's own cap must not be lower.
DATA_UPLOAD_MAX_MEMORY_SIZE = max(INGEST_MAX_BODY_BYTES * 2, 2_621_440)
# The ASGI guard (aiops_site/body_limit.py) answers 413 before anything reads a larger body:
# the ingest endpoints at the ingest limit, every other path at REQUEST_MAX_BODY_BYTES.
REQUEST_MAX_BODY_BYTES = env_int(
    "REQUEST_MAX_BODY_BYTES", DATA_UPLOAD_MAX_MEMORY_SIZE, minimum=INGEST_MAX_BODY_BYTES
)
REQUEST_BODY_LIMITS = {
    prefix: INGEST_MAX_BODY_BYTES
    for prefix in ("/api/v1/events", "/api/v1/logs", "/api/v1/alertmanager", "/api/v1/services/")
}

# --- Knowledge: embeddings, optional LLM, fingerprinting -----------------------------------

# Vectors from different providers are not comparable: rebuild them (`manage.py reembed`)
# after changing EMBEDDING_PROVIDER. Nothing requires the LLM; it is off while LLM_API_URL is empty.
EMBEDDING_PROVIDER = env_choice(
    "EMBEDDING_PROVIDER", "hashing", {"hashing", "sentence-transformers", "openai"}
).lower()
EMBEDDING_API_URL = env_str("EMBEDDING_API_URL")
EMBEDDING_API_KEY = env_str("EMBEDDING_API_KEY")
EMBEDDING_MODEL = env_str("EMBEDDING_MODEL")
EMBEDDING_TIMEOUT_SECONDS = env_int("EMBEDDING_TIMEOUT_SECONDS", 30, minimum=1)
if EMBEDDING_PROVIDER == "openai" and not EMBEDDING_API_URL:
    raise ImproperlyConfigured("EMBEDDING_PROVIDER=openai needs EMBEDDING_API_URL")
LLM_API_URL = env_str("LLM_API_URL")
LLM_API_KEY = env_str("LLM_API_KEY")
LLM_MODEL = env_str("LLM_MODEL", "gpt-4o-mini")
LLM_TIMEOUT_SECONDS = env_int("LLM_TIMEOUT_SECONDS", 30, minimum=1)
from aiops_site.settings_notify import *  # noqa: E402, F403  (NOTIFY_*, EMAIL_*)
