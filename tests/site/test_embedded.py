"""The embedded servers: real PostgreSQL+pgvector and Redis, shared, persistent, stoppable."""

from __future__ import annotations

import psycopg
import redis

from aiops_site import embedded


def test_servers_start_once_are_reused_and_keep_data_across_restarts(tmp_path):
    var_dir = tmp_path / "var"
    try:
        first = embedded.ensure_servers(var_dir, need_database=True, need_redis=True)
        second = embedded.ensure_servers(var_dir, need_database=True, need_redis=True)
        assert first == second  # the second caller found the running servers

        config = (var_dir / "redis" / "redis.conf").read_text()
        assert "appendonly yes" in config
        assert "appendfsync everysec" in config
        assert "bind 127.0.0.1" in config

        redis.Redis.from_url(first.redis_url).set("survives", "restart")
        # Tables are the owner's; the app's runtime role gets their rows by default privilege.
        with psycopg.connect(embedded.owner_url(first.database_url)) as conn:
            conn.execute("CREATE TABLE survives (v vector(2))")
            conn.execute("INSERT INTO survives VALUES ('[1,2]')")

        assert set(embedded.stop_servers(var_dir)) == {"redis", "postgresql"}
        assert not embedded.postgres_running(var_dir)

        again = embedded.ensure_servers(var_dir, need_database=True, need_redis=True)
        assert redis.Redis.from_url(again.redis_url).get("survives") == b"restart"
        with psycopg.connect(again.database_url) as conn:
            assert conn.execute("SELECT v::text FROM survives").fetchone() == ("[1,2]",)
    finally:
        embedded.stop_servers(var_dir)
    assert embedded.stop_servers(var_dir) == []
