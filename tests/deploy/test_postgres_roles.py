"""The external setup (compose's init scripts) on a real PostgreSQL: deploy/postgres/init.sql
and roles.sh, then `migrate` as the owner; the app's role can append to the audit log and
nothing more, in the schema AIOPS_DB_SCHEMA names. (pgserver's PostgreSQL trusts its socket,
so the passwords go unchecked here.)"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, quote, urlparse

import psycopg
import pytest

from tests.deploy.promql import ROOT
from tests.support import process_env

APP = "aiops_app"


@pytest.fixture
def server(tmp_path) -> Iterator[tuple[str, Path]]:
    """A throwaway PostgreSQL with an empty ``aiops`` database: its socket folder, its bin/."""
    with warnings.catch_warnings():  # pgserver's platformdirs warns without XDG_RUNTIME_DIR
        warnings.simplefilter("ignore")
        import pgserver
        from pgserver._commands import POSTGRES_BIN_PATH

        server = pgserver.get_server(tmp_path, cleanup_mode="stop")
    socket_dir = parse_qs(urlparse(server.get_uri()).query)["host"][0]
    try:
        with superuser(socket_dir, "postgres") as admin:
            admin.execute("CREATE DATABASE aiops")
        yield socket_dir, Path(POSTGRES_BIN_PATH)
    finally:
        server.cleanup()


def superuser(socket_dir: str, dbname: str) -> psycopg.Connection:
    return psycopg.connect(host=socket_dir, user="postgres", dbname=dbname, autocommit=True)


def run_init_scripts(socket_dir: str, bin_dir: Path, **extra: str) -> None:
    inherited = {k: v for k, v in os.environ.items() if k != "AIOPS_DB_SCHEMA"}  # only `extra`'s
    env = {**inherited, "PATH": f"{bin_dir}:{os.environ['PATH']}", "PGHOST": socket_dir,
           "POSTGRES_USER": "postgres", "POSTGRES_DB": "aiops",
           "AIOPS_OWNER_PASSWORD": "owner-secret", "AIOPS_APP_PASSWORD": "app-secret",
           **extra}  # fmt: skip
    subprocess.run(["psql", "-v", "ON_ERROR_STOP=1", "-U", "postgres", "-d", "aiops", "-f",
                    str(ROOT / "deploy/postgres/init.sql")], env=env, check=True,
                   capture_output=True)  # fmt: skip
    subprocess.run(["sh", str(ROOT / "deploy/postgres/roles.sh")], env=env, check=True,
                   capture_output=True)  # fmt: skip


def manage(socket_dir: str, schema: str, *argv: str) -> subprocess.CompletedProcess:
    """``manage.py`` as compose's setup job runs it: the app's URL, the owner's to migrate."""
    host = quote(socket_dir, safe="")
    env = {
        **process_env(AIOPS_DB_SCHEMA=schema),
        "DATABASE_URL": f"postgresql://{APP}:app-secret@{host}/aiops",
        "DATABASE_MIGRATE_URL": f"postgresql://aiops_owner:owner-secret@{host}/aiops",
    }
    return subprocess.run([sys.executable, "manage.py", *argv], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


@pytest.mark.parametrize("schema", [None, "ops_custom"], ids=["default-schema", "own-schema"])
def test_init_scripts_and_migrate_leave_the_app_append_only_on_the_audit_log(server, schema):
    socket_dir, bin_dir = server
    extra = {"AIOPS_DB_SCHEMA": schema} if schema else {}
    schema = schema or "ai_ops"  # roles.sh's default
    run_init_scripts(socket_dir, bin_dir, **extra)
    run_init_scripts(socket_dir, bin_dir, **extra)  # idempotent

    result = manage(socket_dir, schema, "migrate", "--no-input")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "aiops.W007" not in result.stderr + result.stdout
    assert "aiops.W008" not in result.stderr + result.stdout

    options = f"-c search_path={schema},public"
    with psycopg.connect(host=socket_dir, user=APP, dbname="aiops", options=options) as app:
        schemas = dict(app.execute(
            "SELECT nspname, nspowner::regrole::text FROM pg_namespace"
            " WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'"
        ).fetchall())  # fmt: skip
        assert schemas.keys() == {schema, "public"}  # no stray ai_ops beside a custom schema
        assert schemas[schema] == "aiops_owner"
        tables = dict(app.execute(
            "SELECT tablename, tableowner FROM pg_tables WHERE schemaname = %s", [schema]
        ).fetchall())  # fmt: skip
        assert "remediation_auditentry" in tables
        assert set(tables.values()) == {"aiops_owner"}
        app.execute("INSERT INTO remediation_auditentry (at, kind, actor, data, prev_hash,"
                    " hash) VALUES (now(), 'test', 'system', '{}', '', 'h1')")  # fmt: skip
        # An ordinary table: all four.
        app.execute("INSERT INTO django_content_type (app_label, model) VALUES ('x', 'y')")
        app.execute("UPDATE django_content_type SET model = 'z' WHERE app_label = 'x'")
        assert app.execute("DELETE FROM django_content_type WHERE app_label = 'x'").rowcount == 1
        app.commit()
        for statement in (
            "UPDATE remediation_auditentry SET actor = 'mallory'",
            "DELETE FROM remediation_auditentry",
            "TRUNCATE remediation_auditentry",
            "ALTER TABLE remediation_auditentry DISABLE TRIGGER USER",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app.execute(statement)
            app.rollback()
        assert app.execute("SELECT count(*) FROM remediation_auditentry").fetchone() == (1,)


def test_roles_sh_refuses_a_schema_name_the_app_would_refuse(server):
    socket_dir, bin_dir = server

    with pytest.raises(subprocess.CalledProcessError) as caught:
        run_init_scripts(socket_dir, bin_dir, AIOPS_DB_SCHEMA='ai_ops"; DROP ROLE postgres; --')

    assert b"must be a lower-case identifier" in caught.value.stderr
    with superuser(socket_dir, "aiops") as admin:
        found = admin.execute("SELECT count(*) FROM pg_roles WHERE rolname LIKE 'aiops%'")
        assert found.fetchone() == (0,)  # stopped before psql ran


def test_the_check_warns_while_the_owner_holds_powers_and_roles_sh_takes_them_back(server):
    socket_dir, bin_dir = server
    run_init_scripts(socket_dir, bin_dir)
    with superuser(socket_dir, "aiops") as admin:
        admin.execute("ALTER ROLE aiops_owner CREATEDB CREATEROLE")  # as a careless DBA might

    warned = manage(socket_dir, "ai_ops", "check", "--database", "default")

    assert warned.returncode == 0, warned.stderr[-3000:]
    assert "aiops.W008" in warned.stderr
    assert "aiops_owner (DATABASE_MIGRATE_URL), can create databases and can create roles" in (
        warned.stderr
    )

    run_init_scripts(socket_dir, bin_dir)  # resets the owner's attributes
    clean = manage(socket_dir, "ai_ops", "check", "--database", "default")
    assert clean.returncode == 0, clean.stderr[-3000:]
    assert "aiops.W008" not in clean.stderr + clean.stdout
