#!/bin/sh
# The two database roles of AI-Ops Core (docs/deploy.md, "Database roles"):
#   aiops_owner  owns the app's schema and every table in it; `migrate` runs as it
#                (DATABASE_MIGRATE_URL); no other power (not a superuser, no CREATEDB/CREATEROLE)
#   aiops_app    what web, workers and beat connect as (DATABASE_URL): rows only, and on the
#                audit table only SELECT and INSERT (remediation migration 0007 pins that too)
# The schema is AIOPS_DB_SCHEMA (default ai_ops), the same variable the app reads: give both
# the same value. The script creates the schema if missing.
# The postgres image runs this once on an empty data directory, after 10-aiops.sql (compose).
# Idempotent: on a volume initialised before the roles existed, run it by hand once
#   docker compose exec postgres sh /docker-entrypoint-initdb.d/20-aiops-roles.sh
# and it hands the tables the superuser created over to aiops_owner.
set -eu
: "${AIOPS_OWNER_PASSWORD:?set AIOPS_OWNER_PASSWORD}" "${AIOPS_APP_PASSWORD:?set AIOPS_APP_PASSWORD}"
schema="${AIOPS_DB_SCHEMA:-ai_ops}"
# As the app refuses anything else (settings.py): a plain lower-case identifier.
if ! printf '%s' "$schema" | grep -Eq '^[a-z_][a-z0-9_]{0,62}$'; then
    echo "AIOPS_DB_SCHEMA=$schema must be a lower-case identifier (e.g. ai_ops)" >&2
    exit 2
fi
# psql substitutes :'schema' (a literal) and :"schema" (an identifier) in plain SQL, never
# inside $$ bodies: the loops are SELECTs whose rows \gexec runs as statements.
psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-aiops}" \
     -v owner_password="$AIOPS_OWNER_PASSWORD" -v app_password="$AIOPS_APP_PASSWORD" \
     -v schema="$schema" <<'SQL'
SELECT 'CREATE ROLE aiops_owner' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'aiops_owner')
\gexec
SELECT 'CREATE ROLE aiops_app' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'aiops_app')
\gexec
ALTER ROLE aiops_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS PASSWORD :'owner_password';
ALTER ROLE aiops_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOINHERIT
    PASSWORD :'app_password';
CREATE SCHEMA IF NOT EXISTS :"schema";
ALTER SCHEMA :"schema" OWNER TO aiops_owner;
GRANT USAGE ON SCHEMA :"schema" TO aiops_app;
-- Tables, views, sequences and functions a superuser created before the roles existed become
-- the owner's (sequences owned by a column follow their table).
SELECT format('ALTER %s %s OWNER TO aiops_owner',
              CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                             WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, c.oid::regclass)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = :'schema' AND c.relowner <> 'aiops_owner'::regrole
   AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
   AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                      AND d.objid = c.oid AND d.deptype IN ('a', 'i', 'e'))
\gexec
SELECT format('ALTER ROUTINE %s OWNER TO aiops_owner', p.oid::regprocedure)
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = :'schema' AND p.proowner <> 'aiops_owner'::regrole
   AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                      AND d.objid = p.oid AND d.deptype = 'e')
\gexec
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA :"schema" TO aiops_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA :"schema" TO aiops_app;
-- Whatever later migrations create, the app may use its rows.
ALTER DEFAULT PRIVILEGES FOR ROLE aiops_owner IN SCHEMA :"schema"
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO aiops_app;
ALTER DEFAULT PRIVILEGES FOR ROLE aiops_owner IN SCHEMA :"schema"
    GRANT USAGE, SELECT ON SEQUENCES TO aiops_app;
-- The audit log: read and append only (as remediation migration 0007 pins it).
SELECT format('REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON %I.remediation_auditentry'
              ' FROM aiops_app', :'schema')
 WHERE to_regclass(format('%I.remediation_auditentry', :'schema')) IS NOT NULL
\gexec
SQL
