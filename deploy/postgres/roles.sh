#!/bin/sh
# The two database roles of AI-Ops Core (docs/deploy.md, "Database roles"):
#   aiops_owner  owns schema ai_ops and every table; `migrate` runs as it (DATABASE_MIGRATE_URL)
#   aiops_app    what web, workers and beat connect as (DATABASE_URL): rows only, and on the
#                audit table only SELECT and INSERT (remediation migration 0007 pins that too)
# The postgres image runs this once on an empty data directory, after 10-aiops.sql (compose).
# Idempotent: on a volume initialised before the roles existed, run it by hand once
#   docker compose exec postgres sh /docker-entrypoint-initdb.d/20-aiops-roles.sh
# and it hands the tables the superuser created over to aiops_owner.
set -eu
: "${AIOPS_OWNER_PASSWORD:?set AIOPS_OWNER_PASSWORD}" "${AIOPS_APP_PASSWORD:?set AIOPS_APP_PASSWORD}"
psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-aiops}" \
     -v owner_password="$AIOPS_OWNER_PASSWORD" -v app_password="$AIOPS_APP_PASSWORD" <<'SQL'
SELECT 'CREATE ROLE aiops_owner' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'aiops_owner')
\gexec
SELECT 'CREATE ROLE aiops_app' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'aiops_app')
\gexec
ALTER ROLE aiops_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS PASSWORD :'owner_password';
ALTER ROLE aiops_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOINHERIT
    PASSWORD :'app_password';
CREATE SCHEMA IF NOT EXISTS ai_ops;
ALTER SCHEMA ai_ops OWNER TO aiops_owner;
GRANT USAGE ON SCHEMA ai_ops TO aiops_app;
-- Tables a superuser created before the roles existed become the owner's.
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT c.oid::regclass AS name,
                    CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END AS kind
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = 'ai_ops' AND c.relowner <> 'aiops_owner'::regrole
                AND c.relkind IN ('r', 'p', 'v', 'S')
                AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                                   AND d.objid = c.oid AND d.deptype IN ('a', 'i'))
    LOOP
        EXECUTE format('ALTER %s %s OWNER TO aiops_owner', r.kind, r.name);
    END LOOP;
    FOR r IN SELECT p.oid::regprocedure AS name FROM pg_proc p
               JOIN pg_namespace n ON n.oid = p.pronamespace
              WHERE n.nspname = 'ai_ops' AND p.proowner <> 'aiops_owner'::regrole
    LOOP
        EXECUTE format('ALTER ROUTINE %s OWNER TO aiops_owner', r.name);
    END LOOP;
END $$;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ai_ops TO aiops_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA ai_ops TO aiops_app;
-- Whatever later migrations create, the app may use its rows.
ALTER DEFAULT PRIVILEGES FOR ROLE aiops_owner IN SCHEMA ai_ops
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO aiops_app;
ALTER DEFAULT PRIVILEGES FOR ROLE aiops_owner IN SCHEMA ai_ops
    GRANT USAGE, SELECT ON SEQUENCES TO aiops_app;
-- The audit log: read and append only (as remediation migration 0007 pins it).
SELECT 'REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON ai_ops.remediation_auditentry FROM aiops_app'
 WHERE to_regclass('ai_ops.remediation_auditentry') IS NOT NULL
\gexec
SQL
