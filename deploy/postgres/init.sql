-- Run once by the postgres image on an empty data directory (compose.yaml mounts it).
-- The plan's dedicated schema (AIOPS_DB_SCHEMA=ai_ops) and pgvector, which the first
-- migration would also create.
CREATE SCHEMA IF NOT EXISTS ai_ops;
CREATE EXTENSION IF NOT EXISTS vector;
