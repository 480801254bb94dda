"""Models of the knowledge graph (problems, solutions, patterns, edges arrive with their issue)."""
