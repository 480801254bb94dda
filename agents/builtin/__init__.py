"""Importing this registers the built-in agents."""

from agents.builtin import monitor  # noqa: F401
from agents.diagnostic import agent as diagnostic_agent  # noqa: F401
from agents.learning import agent as learning_agent  # noqa: F401
