"""Deployment settings of the Wagtail site under test (copied in as ``demo/settings/aiops.py``).

Only what a real deployment of any Django site may set: production-like DEBUG, its database
from a URL (PostgreSQL, with a lock and statement timeout so a request blocked on a lock
fails in seconds instead of hanging its worker), a Redis per-site cache (the upstream the
harness can hang), and the AI-Ops SDK exactly as ``docs/sdk.md`` says. Nothing here knows
about AI-Ops' diagnoses.
"""

import os

import dj_database_url

from .dev import *  # noqa: F403

DEBUG = False
ALLOWED_HOSTS = ["*"]
DATABASES = {"default": dj_database_url.parse(os.environ["SITE_DATABASE_URL"])}
DATABASES["default"]["OPTIONS"] = {"options": "-c lock_timeout=3000 -c statement_timeout=10000"}
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": os.environ["SITE_CACHE_URL"],
        "OPTIONS": {"socket_timeout": 3, "socket_connect_timeout": 3},
    }
}
CACHE_MIDDLEWARE_SECONDS = 30
MIDDLEWARE = [
    "aiops_sdk.django.AIOpsRequestMiddleware",
    "django.middleware.cache.UpdateCacheMiddleware",
    *MIDDLEWARE,  # noqa: F405
    "django.middleware.cache.FetchFromCacheMiddleware",
]
INSTALLED_APPS = [*INSTALLED_APPS, "aiops_sdk.django.AIOpsConfig"]  # noqa: F405
AIOPS = {
    "URL": os.environ["AIOPS_URL"],
    "TOKEN": os.environ["AIOPS_TOKEN"],
    "SERVICE": os.environ["AIOPS_SERVICE"],
    "FLUSH_INTERVAL": 0.5,
    "REGISTER": {"version": os.environ.get("SITE_VERSION", "1.0")},
}
