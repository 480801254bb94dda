"""The built-in agents. Importing this package registers them (``AGENT_MODULES``)."""

from agents.builtin import diagnostic, learning, monitor  # noqa: F401
