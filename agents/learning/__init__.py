"""The learning agent: patterns, optimal import batch sizes, peak usage (``agent.py`` is the
shell, ``learners.py`` what it learns; patterns are written through knowledge's services)."""
