"""Process-wide helpers (the Redis client, per-process singletons). Imports no app."""
