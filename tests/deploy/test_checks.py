"""Start-up refusals for production configuration: an evicting Redis, a missing schema; and
the dedicated schema itself, migrated into on the real embedded PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import psycopg
import pytest
import redis
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from aiops_site.checks import check_redis_eviction, check_schema
from aiops_site.database import testing
from aiops_site.stack import database_url
from tests.deploy.promql import ROOT
from tests.support import process_env


@pytest.fixture
def eviction_policy(clean_redis: redis.Redis) -> Iterator[callable]:
    """Sets the real server's policy for one test and puts the original back."""
    original = clean_redis.config_get("maxmemory-policy")["maxmemory-policy"]
    yield lambda policy: clean_redis.config_set("maxmemory-policy", policy)
    clean_redis.config_set("maxmemory-policy", original)


def test_noeviction_passes(eviction_policy):
    eviction_policy("noeviction")

    assert check_redis_eviction() == []


@pytest.mark.parametrize("policy", ["allkeys-lru", "volatile-ttl"])
def test_an_evicting_policy_is_an_error_naming_it(eviction_policy, policy):
    eviction_policy(policy)

    [error] = check_redis_eviction()

    assert error.id == "aiops.E005"
    assert f"maxmemory-policy {policy}" in error.msg


def test_manage_py_check_refuses_to_pass_on_an_evicting_redis(eviction_policy):
    eviction_policy("allkeys-lru")

    with pytest.raises(SystemCheckError, match=r"aiops\.E005"):
        call_command("check")


@pytest.mark.django_db
def test_a_missing_schema_is_an_error(settings):
    settings.AIOPS_DB_SCHEMA = "ai_ops_nowhere"

    [error] = check_schema(databases=["default"])

    assert error.id == "aiops.E006" and "ai_ops_nowhere" in error.msg


@pytest.mark.django_db(transaction=True)
def test_migrations_run_into_the_dedicated_schema():
    """A fresh database (public must not already hold the tables: they would be found on the
    search_path), the schema created as compose's init script does, then a real migrate."""
    name = f"aiops_schema_{os.getpid()}"
    testing.drop_database(name)
    testing.create_database(name)  # the owner's, as a DBA would create it for deploy/
    url = database_url().rsplit("/", 1)[0] + f"/{name}"
    owner_url = database_url(as_owner=True).rsplit("/", 1)[0] + f"/{name}"
    try:
        with psycopg.connect(owner_url, autocommit=True) as fresh:
            fresh.execute("CREATE SCHEMA ai_ops")
        env = {**process_env(AIOPS_DB_SCHEMA="ai_ops"), "DATABASE_URL": url,
               "DATABASE_MIGRATE_URL": owner_url}  # fmt: skip
        result = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--no-input"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]
        with psycopg.connect(owner_url) as fresh:
            rows = fresh.execute(
                "SELECT table_schema, table_name FROM information_schema.tables"
                " WHERE table_schema IN ('ai_ops', 'public')"
            ).fetchall()
        in_schema = {t for s, t in rows if s == "ai_ops"}
        assert {"django_migrations", "knowledge_problem", "remediation_auditentry",
                "agents_agent", "knowledge_nodes"} <= in_schema  # fmt: skip
        assert [t for s, t in rows if s == "public"] == []
    finally:
        testing.drop_database(name)
