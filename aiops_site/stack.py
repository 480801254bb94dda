"""Running the whole system on one machine: the run lock, the first admin, the process table.

``manage.py run_stack`` (what ``make run`` calls) is a thin wrapper over these functions.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shlex
import signal
import string
import subprocess  # noqa: S404  (argv lists from our own Procfile, never a shell)
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import quote

import httpx
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
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


def database_url(*, as_owner: bool = False) -> str:
    """The URL of the database this process is connected to (under pytest, the test one),
    as the runtime role or, ``as_owner``, as the owner role (``DATABASE_MIGRATE_URL``)."""
    db = connection.settings_dict
    if as_owner:
        db = {**db, **(db.get("MIGRATE_AS") or {})}
    auth = quote(db["USER"] or "", safe="")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"], safe="")
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgresql://{auth}@{quote(db['HOST'] or '', safe='')}{port}/{db['NAME']}"


def child_environment(host: str, port: int) -> dict[str, str]:
    """Children get resolved URLs, so none of them re-runs the embedded-server check."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(
        PYTHON=sys.executable,
        HOST=host,
        PORT=str(port),
        AIOPS_VAR_DIR=str(settings.VAR_DIR),
        DATABASE_URL=database_url(),
        REDIS_URL=settings.REDIS_URL,
        SECRET_KEY=settings.SECRET_KEY,
        PYTHONUNBUFFERED="1",
        PROMETHEUS_MULTIPROC_DIR=str(prometheus_dir()),
        DJANGO_SETTINGS_MODULE="aiops_site.settings",
        # The parent's resolved allow-list: with DATABASE_URL set, a child would otherwise
        # fall back to the production default (no networks) and refuse every control call.
        CONTROL_URL_ALLOWED_NETWORKS=",".join(settings.CONTROL_URL_ALLOWED_NETWORKS),
    )
    return env


class BackgroundStack:
    """Procfile processes as plain subprocesses (no shell: each line's ``$VARS`` are filled
    in, then split), for commands that need the real stack around them, like ``scorecard``.
    ``make run`` runs them under supervisord instead (restarts; see ``supervision.py``)."""

    def __init__(self, names: list[str], *, host: str, port: int, log_dir: Path) -> None:
        table = process_table()
        unknown = set(names) - set(table)
        if unknown:
            raise ValueError(f"not in the Procfile: {sorted(unknown)}")
        self.env = child_environment(host, port)
        # Its own metrics folder: a `make run` beside it keeps its files.
        self.env["PROMETHEUS_MULTIPROC_DIR"] = str(log_dir / "prometheus")
        self.commands = {name: shlex.split(string.Template(table[name]).substitute(self.env))
                         for name in names}  # fmt: skip
        self.url = f"http://{host}:{port}"
        self.log_dir = log_dir
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self) -> BackgroundStack:
        metrics = Path(self.env["PROMETHEUS_MULTIPROC_DIR"])
        metrics.mkdir(parents=True, exist_ok=True)
        for stale in metrics.glob("*.db"):
            stale.unlink()
        connection.close()  # children must not share our socket
        for name, argv in self.commands.items():
            log = open(self.log_dir / f"{name}.log", "wb")  # noqa: SIM115  (kept by the child)
            self.processes[name] = subprocess.Popen(  # noqa: S603  (argv from our Procfile)
                argv, env=self.env, cwd=settings.BASE_DIR, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        return self

    def wait_until_healthy(self, timeout: float = 90.0) -> None:
        """Until ``/health`` answers 200 (database, Redis, agents' heartbeats all fine)."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited with {process.returncode}; see its log "
                                       f"in {self.log_dir}")  # fmt: skip
            try:
                response = httpx.get(f"{self.url}/health", timeout=2.0)
                if response.status_code == 200:
                    return
                last = f"HTTP {response.status_code}: {response.text[:200]}"
            except httpx.HTTPError as exc:
                last = str(exc)
            time.sleep(0.5)
        raise TimeoutError(f"the stack did not become healthy in {timeout:.0f}s ({last})")

    def stop(self, timeout: float = 15.0) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in self.processes.values():
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
