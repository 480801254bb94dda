"""The diagnostic agent: root cause of errors and anomalies (``agent.py`` is the shell,
``reasoning.py`` the hypotheses and their scores)."""
