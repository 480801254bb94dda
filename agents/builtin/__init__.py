"""The built-in agents. Importing this package registers them (``AGENT_MODULES``)."""

from agents.builtin import diagnostic, learning  # noqa: F401
from agents.monitor import agent as monitor  # noqa: F401
