"""What this process is: its role (web, worker, beat, a command), its instance id, and
whether it serves (and so belongs in the service registry).

A Django project runs the same settings in its web server, its Celery workers, beat and
every ``manage.py`` command. Each of them reporting as the host name made web and worker
one instance, and registration in ``manage.py migrate`` put short-lived commands in the
registry. The role is read from the command line (``AIOPS_ROLE`` overrides it); the instance
id is ``role@host:pid``, so two processes never share one.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Sequence
from pathlib import PurePath

ROLE_ENV = "AIOPS_ROLE"
#: Roles that serve traffic or work: these register and heartbeat; commands do not.
SERVING_ROLES = frozenset({"web", "worker"})
WEB_SERVERS = frozenset(
    {"gunicorn", "uvicorn", "daphne", "hypercorn", "uwsgi", "granian", "waitress-serve"}
)
#: ``manage.py`` commands that serve HTTP.
WEB_COMMANDS = frozenset({"runserver", "runserver_plus", "runmodwsgi"})


def _program(argv: Sequence[str]) -> str:
    """The program's name: ``gunicorn`` for ``.../bin/gunicorn`` and ``python -m gunicorn``."""
    if not argv or argv[0] in ("", "-c"):
        return "python"
    path = PurePath(argv[0])
    if path.name in ("__main__.py", "-m") and path.parent.name:
        return path.parent.name
    return path.name.removesuffix(".py")


def process_role(argv: Sequence[str] | None = None, environ: dict[str, str] | None = None) -> str:
    """``web``, ``worker``, ``beat``, a ``manage.py`` command's name, or the program's name."""
    environ = os.environ if environ is None else environ  # type: ignore[assignment]
    if environ.get(ROLE_ENV):
        return environ[ROLE_ENV]
    argv = sys.argv if argv is None else argv
    program = _program(argv)
    args = list(argv[1:])
    if program == "celery":
        for role in ("worker", "beat"):
            if role in args:
                return role
        return "celery"
    if program in WEB_SERVERS:
        return "web"
    if program in ("manage", "django-admin", "django"):
        command = next((a for a in args if not a.startswith("-")), "")
        return "web" if command in WEB_COMMANDS else (command or program)
    return program or "python"


def is_serving(
    argv: Sequence[str] | None = None,
    environ: dict[str, str] | None = None,
    role: str | None = None,
) -> bool:
    """Whether this process serves (web or worker), as opposed to a one-off command.

    ``runserver``'s autoreloader parent only watches files; its child (``RUN_MAIN=true``)
    serves, so only the child counts. ``AIOPS_ROLE`` (or ``AIOPS["ROLE"]``) is trusted.
    """
    if role:  # configured outright (AIOPS["ROLE"]): trusted as said
        return role in SERVING_ROLES
    environ = os.environ if environ is None else environ  # type: ignore[assignment]
    argv = sys.argv if argv is None else argv
    if process_role(argv, environ) not in SERVING_ROLES:
        return False
    if environ.get(ROLE_ENV):  # said outright: trusted as said
        return True
    is_runserver = "runserver" in argv[1:] and _program(argv) in ("manage", "django-admin")
    return not (is_runserver and "--noreload" not in argv and environ.get("RUN_MAIN") != "true")


def default_instance(role: str | None = None) -> str:
    """``role@host:pid``: distinct for every process, readable in the registry."""
    return f"{role or process_role()}@{socket.gethostname()}:{os.getpid()}"
