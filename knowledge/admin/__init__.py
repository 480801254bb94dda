"""Curation of the knowledge graph in the Django admin.

Every change that spans rows (merges, status changes, pattern validation, rollbacks) calls
``knowledge/services/``, so the admin emits the same events and keeps the same history as
the agents do. Read-only panels (similar problems, edges, version history) are rendered here
as small HTML fragments with links, so a curator can walk the graph from any node.
"""

from knowledge.admin import graph, incidents, patterns, problems, solutions  # noqa: F401
