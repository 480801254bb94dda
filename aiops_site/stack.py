"""Running the whole system on one machine: the run lock, the first admin, the process table.

``manage.py run_stack`` (what ``make run`` calls) is a thin wrapper over these functions.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from django.conf import settings
from django.contrib.auth import get_user_model
from honcho.environ import parse_procfile

PROCFILE = Path(settings.BASE_DIR) / "Procfile"


class AlreadyRunning(RuntimeError):
    """Another ``run_stack`` holds the lock for this ``var/`` folder."""


@contextlib.contextmanager
def run_lock(var_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock for the life of the stack; the kernel frees it if we die."""
    var_dir.mkdir(parents=True, exist_ok=True)
    path = var_dir / "run.lock"
    handle: IO[str] = open(path, "a+")  # noqa: SIM115  (held open for the whole run)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "unknown"
            raise AlreadyRunning(
                f"AI-Ops Core is already running from {var_dir} (pid {owner}). "
                "Stop it with Ctrl-C in its terminal, or use another AIOPS_VAR_DIR."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()


@dataclass(frozen=True)
class AdminCredentials:
    username: str
    password: str | None  # None when the password came from the environment


def ensure_first_admin() -> AdminCredentials | None:
    """Create the first superuser once; returns its credentials when one was created."""
    user_model = get_user_model()
    if user_model.objects.filter(is_superuser=True).exists():
        return None
    username = os.environ.get("AIOPS_ADMIN_USER", "admin")
    env_password = os.environ.get("AIOPS_ADMIN_PASSWORD")
    password = env_password or secrets.token_urlsafe(12)
    user_model.objects.create_superuser(
        username=username, email=os.environ.get("AIOPS_ADMIN_EMAIL", ""), password=password
    )
    return AdminCredentials(username, None if env_password else password)


SIMULATOR_TOKEN_NAME = "make run simulator"


def simulator_token() -> str:
    """A fresh token for the simulator this run starts; the previous run's is revoked (only
    hashes are stored, so a token cannot be handed over from one run to the next)."""
    from agents.models import ApiToken

    for old in ApiToken.objects.filter(name=SIMULATOR_TOKEN_NAME, revoked_at__isnull=True):
        old.revoke()
    _, plaintext = ApiToken.issue(SIMULATOR_TOKEN_NAME, "bookmarks")
    return plaintext


def process_table() -> dict[str, str]:
    """The Procfile's processes by name."""
    return dict(parse_procfile(PROCFILE.read_text()).processes)


def prometheus_dir() -> Path:
    return Path(settings.VAR_DIR) / "prometheus"


def reset_prometheus_dir() -> None:
    """Every process writes its metrics here; /metrics merges them. Stale files would lie."""
    directory = prometheus_dir()
    if directory.exists():
        for stale in directory.glob("*.db"):
            stale.unlink()
    directory.mkdir(parents=True, exist_ok=True)


def child_environment(host: str, port: int) -> dict[str, str]:
    """Children get resolved URLs, so none of them re-runs the embedded-server check."""
    env = dict(os.environ)
    env.update(
        PYTHON=sys.executable,
        HOST=host,
        PORT=str(port),
        AIOPS_VAR_DIR=str(settings.VAR_DIR),
        DATABASE_URL=settings.DATABASE_URL,
        REDIS_URL=settings.REDIS_URL,
        SECRET_KEY=settings.SECRET_KEY,
        PYTHONUNBUFFERED="1",
        PROMETHEUS_MULTIPROC_DIR=str(prometheus_dir()),
        DJANGO_SETTINGS_MODULE="aiops_site.settings",
    )
    return env
