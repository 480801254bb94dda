"""The built-in agents. Importing this package registers them (``AGENT_MODULES``)."""
