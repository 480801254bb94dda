"""The action registry: typed, pluggable remediation actions.

Each action is a class in this package registered with :func:`register_action`; importing
the package registers the built-in ones (``builtin.py``). Rules and runs name actions by
``name``; :func:`get_action` returns the class.
"""

from __future__ import annotations

from remediation.actions import builtin, outbound  # noqa: F401  (registers the built-in actions)
from remediation.actions.base import (
    Action,
    ActionContext,
    ActionError,
    action_title,
    get_action,
    register_action,
    registered_actions,
)

__all__ = [
    "Action",
    "ActionContext",
    "ActionError",
    "action_title",
    "get_action",
    "register_action",
    "registered_actions",
]
