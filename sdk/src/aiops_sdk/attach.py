"""Put the log handler where records go: the root logger *and* every logger that does not
propagate to it.

Hooking only the root logger loses the records of loggers configured with
``"propagate": False`` (an app's own loggers often are, so their records go to one file
handler and nowhere else): in the field, 153 task errors would have been lost that way.
Walking ``logging.root.manager.loggerDict`` finds them. A record travels up until a
logger that does not propagate, so the root plus each non-propagating logger is every
record exactly once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

#: Never hooked: ``django.server`` repeats every 5xx request line the middleware already
#: reports as ``api.request``; the SDK's own loggers would feed back into themselves.
IGNORED_LOGGERS = ("django.server", "aiops_sdk")


def loggers_to_hook(root: logging.Logger | None = None) -> list[logging.Logger]:
    """The root logger and every configured logger that does not propagate."""
    root = root or logging.getLogger()
    found = [root]
    for name, candidate in list(root.manager.loggerDict.items()):
        if not isinstance(candidate, logging.Logger) or candidate.propagate:
            continue
        if name.startswith(IGNORED_LOGGERS):
            continue
        found.append(candidate)
    return found


def attach_handler(
    make_handler: Callable[[], logging.Handler],
    kind: type[logging.Handler],
    loggers: list[logging.Logger] | None = None,
) -> list[str]:
    """Add one shared handler (made by ``make_handler`` if none of ``kind`` is found on the
    root) to each logger of :func:`loggers_to_hook` that has no handler of ``kind`` yet.

    Idempotent: calling it again (after Celery replaced the root handlers, say) adds only
    what is missing. Returns the names of the loggers it added the handler to.
    """
    targets = loggers if loggers is not None else loggers_to_hook()
    existing = [h for lg in targets for h in lg.handlers if isinstance(h, kind)]
    handler = existing[0] if existing else make_handler()
    attached = []
    for target in targets:
        if not any(isinstance(h, kind) for h in target.handlers):
            target.addHandler(handler)
            attached.append(target.name)
    return attached
