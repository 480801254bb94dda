"""Supervision under ``make run``: supervisord restarts whatever crashes; only Ctrl-C stops.

Why supervisord (the ``supervisor`` package) rather than honcho, which ran the Procfile
before: honcho stops every process when one exits, so one SIGKILLed Celery worker took the
web server and the embedded databases down with it. supervisord is the well-kept answer to
exactly this: each program is restarted on its own (``autorestart``), a program that dies
while starting is retried with a growing delay (1 s, 2 s, 3 s, ... up to ``startretries``),
stops go to the whole process group, and ``supervisorctl -c var/supervisord.conf status``
shows the state of each. The Procfile stays the single list of processes.

The embedded Redis runs under it too (in the foreground, on the port persisted in
``var/redis/port``): a crashed Redis comes back on the same port, so no client's
``REDIS_URL`` goes stale; clients reconnect by themselves (see ``core/redis.py``
and the Redis options in settings). So does the embedded PostgreSQL (the ``postgres``
binary pgserver ships, in the foreground on pgserver's data and socket folders): a
SIGKILLed postmaster is started again, runs crash recovery from its WAL, and Django's
connections (``CONN_HEALTH_CHECKS``) and the agents' outage probe reconnect to the same
socket. Until its orphaned backends have exited, a new postmaster refuses to start
("shared memory block is still in use"); supervisord's growing retry delay covers that.
"""

from __future__ import annotations

import getpass
import os
import secrets
import shlex
import signal
import string
import subprocess  # noqa: S404  (argv lists built here, never a shell)
import sys
from pathlib import Path
from types import FrameType

# Programs that die within STARTSECS are retried after 1, 2, ... STARTRETRIES seconds, then
# left FATAL (about 3.5 minutes of trying); a program that ran longer restarts at once.
STARTSECS = 3
STARTRETRIES = 20
STOPWAITSECS = 15
# Lower starts first and stops last: the stores before and after everything that uses them.
PRIORITY = {"postgres": 5, "redis": 10}
# PostgreSQL's SIGTERM is a "smart" shutdown that waits for every client to leave; SIGINT
# is the fast one (what `pg_ctl stop -m fast` sends).
STOPSIGNAL = {"postgres": "INT"}
DEFAULT_PRIORITY = 100
# The only program whose output reaches the terminal: a line per incident and approval
# (aiops_site/narration.py). Every other program, and supervisord itself, writes its full
# log to var/log/<name>.log, rotated at LOG_FILE_BYTES with LOG_FILE_BACKUPS kept.
TERMINAL_PROGRAMS = frozenset({"narrate"})
LOG_FILE_BYTES = "50MB"
LOG_FILE_BACKUPS = 5


def config_path(var_dir: Path) -> Path:
    return var_dir / "supervisord.conf"


def _quote(argv: list[str]) -> str:
    # supervisord expands %(...)s in every value: a literal % (celery's %h) must be doubled.
    return shlex.join(argv).replace("%", "%%")


def program_commands(procfile: dict[str, str], env: dict[str, str]) -> dict[str, list[str]]:
    """Each Procfile line with its ``$VARS`` filled in, split into argv (no shell between)."""
    return {
        name: shlex.split(string.Template(line).substitute(env)) for name, line in procfile.items()
    }


def _log_settings(name: str, log_dir: Path) -> str:
    if name in TERMINAL_PROGRAMS:
        return "stdout_logfile=/dev/stdout\nstdout_logfile_maxbytes=0"
    return (f"stdout_logfile={log_dir / f'{name}.log'}\n"
            f"stdout_logfile_maxbytes={LOG_FILE_BYTES}\n"
            f"stdout_logfile_backups={LOG_FILE_BACKUPS}")  # fmt: skip


def _program(name: str, argv: list[str], cwd: str, user: str | None, log_dir: Path) -> str:
    # A program may run as another system user (PostgreSQL refuses root); supervisord,
    # started as root, switches to it.
    as_user = f"user={user}\n" if user else ""
    return f"""
[program:{name}]
command={_quote(argv)}
directory={cwd}
{as_user}priority={PRIORITY.get(name, DEFAULT_PRIORITY)}
autostart=true
autorestart=true
startsecs={STARTSECS}
startretries={STARTRETRIES}
stopsignal={STOPSIGNAL.get(name, "TERM")}
stopwaitsecs={STOPWAITSECS}
stopasgroup=true
killasgroup=true
redirect_stderr=true
{_log_settings(name, log_dir)}
"""


def write_config(
    var_dir: Path,
    programs: dict[str, list[str]],
    cwd: str,
    users: dict[str, str] | None = None,
) -> Path:
    """supervisord in the foreground, logging to ``var/log/``, with a control socket;
    ``users`` names the system user of a program that must not run as us."""
    users = users or {}
    log_dir = var_dir / "log"
    log_dir.mkdir(parents=True, exist_ok=True)
    # The control socket is private to us (0700) and also needs these per-run credentials,
    # which only this file (0600) holds; supervisorctl reads them from it.
    password = secrets.token_urlsafe(18)
    # As root, say so: supervisord would otherwise warn that it did not drop privileges.
    user = f"user={getpass.getuser()}\n" if os.geteuid() == 0 else ""
    text = f"""\
; Written by `manage.py run_stack` at each start; edits are lost.
[supervisord]
nodaemon=true
silent=true
logfile={log_dir / "supervisord.log"}
logfile_maxbytes={LOG_FILE_BYTES}
logfile_backups={LOG_FILE_BACKUPS}
loglevel=info
pidfile={var_dir / "supervisord.pid"}
childlogdir={log_dir}
{user}
[unix_http_server]
file={var_dir / "supervisor.sock"}
chmod=0700
username=aiops
password={password}

[supervisorctl]
serverurl=unix://{var_dir / "supervisor.sock"}
username=aiops
password={password}

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
"""
    text += "".join(
        _program(name, argv, cwd, users.get(name), log_dir) for name, argv in programs.items()
    )
    path = config_path(var_dir)
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(text)
    return path


def run_supervisor(config: Path, env: dict[str, str], cwd: str) -> int:
    """Run supervisord until SIGINT/SIGTERM reaches this process; returns its exit code.

    supervisord gets its own session so a Ctrl-C in the terminal reaches only us: we pass it
    on as one SIGTERM, and supervisord stops the programs in reverse priority order.
    """
    process = subprocess.Popen(  # noqa: S603  (our own interpreter and config)
        [sys.executable, "-m", "supervisor.supervisord", "-c", str(config)],
        env=env, cwd=cwd, start_new_session=True,
    )  # fmt: skip

    def forward(signum: int, frame: FrameType | None) -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return process.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
