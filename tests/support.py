"""Helpers shared by tests that start real processes (consumers, workers, the web server)."""

from __future__ import annotations

import os

from django.conf import settings

from aiops_site.stack import database_url


def process_env(**extra: str) -> dict[str, str]:
    """The environment for a child process that must use this test run's database and Redis."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(
        DATABASE_URL=database_url(),
        REDIS_URL=settings.REDIS_URL,
        SECRET_KEY=settings.SECRET_KEY,
        LOG_LEVEL="WARNING",
        # With DATABASE_URL set the child would allow no control networks; keep the test's.
        CONTROL_URL_ALLOWED_NETWORKS=",".join(settings.CONTROL_URL_ALLOWED_NETWORKS),
        **extra,
    )
    return env
