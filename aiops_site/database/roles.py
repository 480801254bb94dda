"""The embedded PostgreSQL's roles: ``aiops_owner`` owns the tables, ``aiops_app`` uses them,
``aiops_test_admin`` creates and drops databases and ends sessions for the test suite.

Run by :func:`aiops_site.embedded.ensure_postgres` as the bootstrap superuser (``postgres``),
under the embedded servers' file lock, before any process connects:

* the roles are created (or their attributes and memberships reset) idempotently; the owner
  holds no power beyond its objects (no ``CREATEDB``, no ``pg_signal_backend``: a ``var/``
  from a checkout that gave it those loses them on its next start);
* every database but ``postgres`` and the templates is handed to the owner, and so is what
  an older checkout created in it as ``postgres`` (tables, views, sequences, functions,
  schemas; extension members such as pgvector's stay the superuser's);
* the runtime role gets rows (``SELECT, INSERT, UPDATE, DELETE``) on every table and the use
  of every sequence, now and, through ``ALTER DEFAULT PRIVILEGES FOR ROLE aiops_owner``, on
  whatever later migrations create; on the audit table only ``SELECT`` and ``INSERT``
  (remediation migration 0007 pins the same for any deployment);
* ``template1`` gets the same default privileges, so test databases start with them.

The work is done once: a version comment on the runtime role marks it, so the many
processes that start afterwards pay one query.

Why no passwords: pgserver serves only a unix socket, in ``var/pg`` (mode 0700) or, for a
path too long for a socket, a runtime folder; ``unix_socket_permissions = 0700`` is set
too. Only the OS account that owns the data can reach it, and that account can read and
write the data files themselves, so a password kept beside them would protect nothing.
What the split does protect against is SQL reaching the app's connection (an injection, a
library running queries): that connection cannot alter, empty or disable the audit table.
A deployment that must also resist code execution in the app keeps the owner's password
away from the app processes (docs/deploy.md).

The test administrator (``aiops_test_admin``) exists because tests need what no production
role should hold: ``CREATEDB`` (pytest-django's ``test_aiops``, the Wagtail site's
databases, scratch databases) and ``pg_signal_backend`` (ending the app's sessions to stage an
outage). It is a member of the owner, because PostgreSQL 16 lets only a member hand a new
database to a role (``CREATE DATABASE ... OWNER aiops_owner``) or drop it. Why not the
bootstrap superuser: a superuser skips every permission check, so a test that used it for
setup would hide a missing grant, and it can run programs on the server (``COPY ... FROM
PROGRAM``); this role can do no more than the owner plus those two powers. Only the
test-database creation (``base.py``) and ``testing.py`` (tests, benchmarks) connect as it;
the app never does. roles.sh (a deployment) does not create it.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

SUPERUSER = "postgres"  # what pgserver's initdb creates
OWNER_ROLE = "aiops_owner"
RUNTIME_ROLE = "aiops_app"
TEST_ADMIN_ROLE = "aiops_test_admin"
AUDIT_TABLE = "remediation_auditentry"
# Bump when the bootstrap below changes, so existing var/ folders run it again.
VERSION = "aiops roles v2"

ROLES_SQL = f"""
DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{OWNER_ROLE}') THEN
        CREATE ROLE {OWNER_ROLE};
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{RUNTIME_ROLE}') THEN
        CREATE ROLE {RUNTIME_ROLE};
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{TEST_ADMIN_ROLE}') THEN
        CREATE ROLE {TEST_ADMIN_ROLE};
    END IF;
    -- v1 gave the owner these for the tests; the test administrator holds them now.
    IF EXISTS (SELECT FROM pg_auth_members WHERE roleid = 'pg_signal_backend'::regrole
                  AND member = '{OWNER_ROLE}'::regrole) THEN
        REVOKE pg_signal_backend FROM {OWNER_ROLE};
    END IF;
END $$;
ALTER ROLE {OWNER_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
ALTER ROLE {RUNTIME_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    NOINHERIT;
ALTER ROLE {TEST_ADMIN_ROLE} LOGIN NOSUPERUSER CREATEDB NOCREATEROLE NOREPLICATION
    NOBYPASSRLS INHERIT;
GRANT pg_signal_backend TO {TEST_ADMIN_ROLE};
GRANT {OWNER_ROLE} TO {TEST_ADMIN_ROLE};
"""  # noqa: S608  (built from the module's constants, no input)
# Its own statement (ALTER SYSTEM refuses a transaction block); read at the next start.
SOCKET_SQL = "ALTER SYSTEM SET unix_socket_permissions = '0700'"

# Inside one database: hand over what the superuser created, then grant rows to the app.
# Sequences owned by a column (identity, serial) follow their table; extension members stay.
DATABASE_SQL = f"""
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT nspname FROM pg_namespace
              WHERE nspowner = '{SUPERUSER}'::regrole AND nspname <> 'information_schema'
                AND nspname NOT LIKE 'pg\\_%' AND nspname <> 'public'
    LOOP
        EXECUTE format('ALTER SCHEMA %I OWNER TO {OWNER_ROLE}', r.nspname);
    END LOOP;
    FOR r IN SELECT c.oid::regclass AS name,
                    CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                                   WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE'
                                   ELSE 'TABLE' END AS kind
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE c.relowner = '{SUPERUSER}'::regrole
                AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
                AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
                AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                                   AND d.objid = c.oid AND d.deptype IN ('a', 'i', 'e'))
    LOOP
        EXECUTE format('ALTER %s %s OWNER TO {OWNER_ROLE}', r.kind, r.name);
    END LOOP;
    FOR r IN SELECT p.oid::regprocedure AS name
               FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
              WHERE p.proowner = '{SUPERUSER}'::regrole
                AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
                AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                                   AND d.objid = p.oid AND d.deptype = 'e')
    LOOP
        EXECUTE format('ALTER ROUTINE %s OWNER TO {OWNER_ROLE}', r.name);
    END LOOP;
    FOR r IN SELECT nspname FROM pg_namespace
              WHERE nspowner = '{OWNER_ROLE}'::regrole OR nspname = 'public'
    LOOP
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO {RUNTIME_ROLE}', r.nspname);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I'
                       ' TO {RUNTIME_ROLE}', r.nspname);
        EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO {RUNTIME_ROLE}',
                       r.nspname);
    END LOOP;
    FOR r IN SELECT c.oid::regclass AS name FROM pg_class c
              WHERE c.relname = '{AUDIT_TABLE}' AND c.relkind = 'r'
    LOOP
        EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON %s'
                       ' FROM {RUNTIME_ROLE}', r.name);
    END LOOP;
END $$;
ALTER DEFAULT PRIVILEGES FOR ROLE {OWNER_ROLE}
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {RUNTIME_ROLE};
ALTER DEFAULT PRIVILEGES FOR ROLE {OWNER_ROLE}
    GRANT USAGE, SELECT ON SEQUENCES TO {RUNTIME_ROLE};
"""  # noqa: S608  (built from the module's constants, no input)


def bootstrapped(admin: psycopg.Connection) -> bool:
    found = admin.execute(
        "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = %s",
        [RUNTIME_ROLE],
    ).fetchone()
    return found is not None and found[0] == VERSION


def ensure_roles(socket_dir: str, database: str) -> None:
    """Create the roles, hand every database to the owner and grant the app its rows;
    creates ``database`` (owned by the owner) if missing. A no-op once done."""
    with psycopg.connect(host=socket_dir, user=SUPERUSER, dbname="postgres") as admin:
        admin.autocommit = True
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database])
        if exists.fetchone() and bootstrapped(admin):
            return
        admin.execute(ROLES_SQL)
        admin.execute(SOCKET_SQL)
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone():
            admin.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(database), sql.Identifier(OWNER_ROLE)
                )
            )
        names = [
            row[0]
            for row in admin.execute(
                "SELECT datname FROM pg_database WHERE datallowconn AND datname <> 'postgres'"
            )
        ]
        for name in names:
            if name not in {"template1", "template0"}:
                admin.execute(
                    sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
                        sql.Identifier(name), sql.Identifier(OWNER_ROLE)
                    )
                )
            with psycopg.connect(host=socket_dir, user=SUPERUSER, dbname=name) as db:
                db.autocommit = True
                if name in {database, "template1"}:
                    # In template1 too, so that test databases have pgvector from birth.
                    db.execute("CREATE EXTENSION IF NOT EXISTS vector")
                db.execute(DATABASE_SQL)
        admin.execute(
            sql.SQL("COMMENT ON ROLE {} IS {}").format(
                sql.Identifier(RUNTIME_ROLE), sql.Literal(VERSION)
            )
        )
