"""Models of the agents app (the service registry, API tokens and agents come later)."""
