"""Shared fixtures: a named cast of users and a clean Redis test database for each test.

Tests run against the real embedded PostgreSQL (pytest-django's ``test_aiops`` database)
and the real Redis (database ``REDIS_TEST_DB``, 15 by default), never fakes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis
from django.conf import settings

from aiops_site import embedded
from core.redis import get_redis
from knowledge.similarity import EXEMPLARS


@pytest.fixture(autouse=True)
def clean_redis() -> Iterator[redis.Redis]:
    client = get_redis()
    client.flushdb()
    # Each test's database starts empty: the per-process catalogue cache must not outlive it.
    EXEMPLARS.forget()
    yield client


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser("ada", "ada@example.com", "pw-ada-123")


@pytest.fixture
def viewer(django_user_model):
    return django_user_model.objects.create_user("victor", "victor@example.com", "pw-victor-123")


def pytest_unconfigure(config: pytest.Config) -> None:
    # Leave nothing running that this session started (a running `make run` is left alone).
    if embedded.started_here and not (
        os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")
    ):
        from django.db import connections

        connections.close_all()
        get_redis().connection_pool.disconnect()
        # Another test run or a `make run` may have joined since: leave the servers to them.
        if not embedded.servers_in_use(settings.VAR_DIR):
            embedded.stop_servers(settings.VAR_DIR)
