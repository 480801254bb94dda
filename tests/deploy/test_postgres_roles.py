"""The external setup (compose's init scripts) on a real PostgreSQL: deploy/postgres/init.sql
and roles.sh, then `migrate` as the owner; the app's role can append to the audit log and
nothing more. (pgserver's PostgreSQL trusts its socket, so the passwords go unchecked here.)"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path
from urllib.parse import parse_qs, quote, urlparse

import psycopg
import pytest

from tests.deploy.promql import ROOT
from tests.support import process_env

APP = "aiops_app"


def run_init_scripts(socket_dir: str, bin_dir: Path) -> None:
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "PGHOST": socket_dir,
           "POSTGRES_USER": "postgres", "POSTGRES_DB": "aiops",
           "AIOPS_OWNER_PASSWORD": "owner-secret", "AIOPS_APP_PASSWORD": "app-secret"}  # fmt: skip
    subprocess.run(["psql", "-v", "ON_ERROR_STOP=1", "-U", "postgres", "-d", "aiops", "-f",
                    str(ROOT / "deploy/postgres/init.sql")], env=env, check=True,
                   capture_output=True)  # fmt: skip
    subprocess.run(["sh", str(ROOT / "deploy/postgres/roles.sh")], env=env, check=True,
                   capture_output=True)  # fmt: skip


def test_init_scripts_and_migrate_leave_the_app_append_only_on_the_audit_log(tmp_path):
    with warnings.catch_warnings():  # pgserver's platformdirs warns without XDG_RUNTIME_DIR
        warnings.simplefilter("ignore")
        import pgserver
        from pgserver._commands import POSTGRES_BIN_PATH

        server = pgserver.get_server(tmp_path, cleanup_mode="stop")
    socket_dir = parse_qs(urlparse(server.get_uri()).query)["host"][0]
    try:
        with psycopg.connect(host=socket_dir, user="postgres", dbname="postgres",
                             autocommit=True) as admin:  # fmt: skip
            admin.execute("CREATE DATABASE aiops")
        run_init_scripts(socket_dir, Path(POSTGRES_BIN_PATH))
        run_init_scripts(socket_dir, Path(POSTGRES_BIN_PATH))  # idempotent

        host = quote(socket_dir, safe="")
        env = {
            **process_env(AIOPS_DB_SCHEMA="ai_ops"),
            "DATABASE_URL": f"postgresql://{APP}:app-secret@{host}/aiops",
            "DATABASE_MIGRATE_URL": f"postgresql://aiops_owner:owner-secret@{host}/aiops",
        }
        result = subprocess.run([sys.executable, "manage.py", "migrate", "--no-input"],
                                cwd=ROOT, env=env, capture_output=True, text=True,
                                timeout=300)  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]
        assert "aiops.W007" not in result.stderr + result.stdout

        options = "-c search_path=ai_ops,public"
        with psycopg.connect(host=socket_dir, user=APP, dbname="aiops", options=options) as app:
            owners = app.execute(
                "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'ai_ops'"
            ).fetchall()
            assert owners == [("aiops_owner",)]
            app.execute("INSERT INTO remediation_auditentry (at, kind, actor, data, prev_hash,"
                        " hash) VALUES (now(), 'test', 'system', '{}', '', 'h1')")  # fmt: skip
            # An ordinary table: all four.
            app.execute("INSERT INTO django_content_type (app_label, model) VALUES ('x', 'y')")
            app.execute("UPDATE django_content_type SET model = 'z' WHERE app_label = 'x'")
            assert (
                app.execute("DELETE FROM django_content_type WHERE app_label = 'x'").rowcount == 1
            )
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
    finally:
        server.cleanup()
