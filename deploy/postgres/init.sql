-- Run once by the postgres image on an empty data directory (compose.yaml mounts it).
-- pgvector, which the first migration would also create (as the owner, it may not: creating
-- an extension needs a superuser). roles.sh, run next, creates the schema (AIOPS_DB_SCHEMA).
CREATE EXTENSION IF NOT EXISTS vector;
