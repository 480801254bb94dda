"""The parts of the fault benchmark that touch processes and stores (``bench_faults.py``).

:class:`FaultStack` runs ``manage.py run_stack --only web worker beat`` on a fresh temporary
``AIOPS_VAR_DIR`` (its own embedded PostgreSQL and Redis, everything under supervisord),
finds the process to kill, and on exit ends every process it saw, by id. :class:`Probe`
reads /health and the diagnostic agent's counted events straight from the stack's stores.
:class:`CountingTransport` is the SDK's own HTTP transport, counting the 5xx it is given.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil
import psycopg
import redis

from agents.mesh import DEAD_LETTER_STREAM
from aiops_sdk.http import HttpTransport
from aiops_site import embedded
from benchmarks.bench_ingest import _free_port

ROOT = Path(__file__).resolve().parent.parent
SERVICE = "fault-bench"
# What finds each victim among supervisord's children (words of its command line).
VICTIMS = {
    "worker": ("celery", "worker"),
    "redis": ("redis-server",),
    "postgres": ("pginstall/bin/postgres",),
}


class FaultStack:
    """The real stack on a throw-away var folder; ``with`` it, so it is always cleaned up."""

    def __init__(self) -> None:
        # Not under pytest's or a private tmp folder: the embedded PostgreSQL runs as its own
        # system user and must be able to reach its data folder.
        self.base = Path(tempfile.mkdtemp(prefix="aiops-faults-"))
        self.base.chmod(0o755)
        self.var_dir = self.base / "var"
        self.log = Path(tempfile.mkstemp(prefix="bench-faults-", suffix=".log")[1])
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            k: v
            for k, v in os.environ.items()
            if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "PYTEST_VERSION"}
        }
        self.env.update(AIOPS_VAR_DIR=str(self.var_dir), LOG_LEVEL="WARNING", LOG_FORMAT="text")
        self.runner: subprocess.Popen[bytes] | None = None
        self.seen: dict[int, psutil.Process] = {}  # every process of the stack, for cleanup
        self._urls: dict[str, str] = {}

    def __enter__(self) -> FaultStack:
        with open(self.log, "wb") as log:
            self.runner = subprocess.Popen(  # noqa: S603  (our own interpreter and command)
                [sys.executable, "manage.py", "run_stack", "--port", str(self.port),
                 "--only", "web", "worker", "beat"],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        self.remember()
        if self.runner is not None and self.runner.poll() is None:
            self.runner.send_signal(signal.SIGINT)  # Ctrl-C: supervisord stops all in order
            try:
                self.runner.wait(90)
            except subprocess.TimeoutExpired:
                os.killpg(self.runner.pid, signal.SIGKILL)
                self.runner.wait()
        for process in self.seen.values():
            with contextlib.suppress(psutil.Error):
                if process.is_running():  # the same process (pid and start time)
                    process.kill()
        with contextlib.suppress(Exception):
            embedded.stop_servers(self.var_dir)
        shutil.rmtree(self.base, ignore_errors=True)
        if exc_type is None:  # kept when the run failed, to read why
            self.log.unlink(missing_ok=True)

    def manage(self, *args: str) -> str:
        """A ``manage.py`` command against this stack's stores; returns its stdout."""
        done = subprocess.run(  # noqa: S603
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True,
            text=True, timeout=120, check=True,
        )  # fmt: skip
        return done.stdout

    def urls(self) -> dict[str, str]:
        """The embedded stores' URLs (``DATABASE_URL``, ``REDIS_URL``) as the stack uses them;
        asked once, while both are up (the command would start a missing one itself)."""
        if not self._urls:
            lines = self.manage("embedded", "status").splitlines()
            self._urls = {k.strip(): v.strip() for k, v in (ln.split(":", 1) for ln in lines)}
        return self._urls

    def dead_letters(self) -> int:
        client = redis.Redis.from_url(self.urls()["REDIS_URL"])
        try:
            return client.xlen(DEAD_LETTER_STREAM)
        finally:
            client.close()

    def wait_healthy(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.runner is not None and self.runner.poll() is not None:
                raise RuntimeError(f"run_stack exited; see {self.log}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    self.remember()
                    return
            time.sleep(0.5)
        raise TimeoutError(f"the stack was not healthy within {timeout:.0f}s; see {self.log}")

    def remember(self) -> None:
        """Note every process of the stack now, so cleanup reaches even orphans."""
        if self.runner is None:
            return
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(self.runner.pid)
            for process in [root, *root.children(recursive=True)]:
                self.seen.setdefault(process.pid, process)

    def program(self, victim: str) -> psutil.Process:
        """supervisord's child for ``victim`` (its main process: the worker's, the postmaster)."""
        words = VICTIMS[victim]
        assert self.runner is not None
        [supervisord] = psutil.Process(self.runner.pid).children()
        for child in supervisord.children():
            with contextlib.suppress(psutil.NoSuchProcess):
                if all(word in " ".join(child.cmdline()) for word in words):
                    return child
        raise LookupError(f"no {victim} process under supervisord")


class Probe:
    """/health and the countable effect, read the way an operator would (never via the app)."""

    def __init__(self, url: str, database_url: str) -> None:
        self.url = url
        self.database_url = database_url
        self.http = httpx.Client(timeout=2)
        self.db: psycopg.Connection | None = None

    def health(self) -> int | None:
        try:
            return self.http.get(f"{self.url}/health").status_code
        except httpx.HTTPError:
            return None

    def query(self, sql: str, params: list | None = None) -> tuple | None:
        """One row, or None while PostgreSQL is away (reconnects on the next call)."""
        try:
            if self.db is None or self.db.closed:
                self.db = psycopg.connect(self.database_url, autocommit=True, connect_timeout=2)
            return self.db.execute(sql, params).fetchone()
        except psycopg.Error:
            if self.db is not None:
                self.db.close()
            self.db = None
            return None

    def counted(self) -> tuple[int, str] | None:
        """How many events the diagnostic agent counted, and the newest id (ULIDs sort by time)."""
        row = self.query("SELECT count(*), coalesce(max(event_id), '') FROM knowledge_countedevent")
        return (row[0], row[1]) if row else None

    def counted_up_to(self, event_id: str) -> int:
        """Counted events with ids up to ``event_id`` (minted no later: ULIDs sort by time)."""
        row = self.query(
            "SELECT count(*) FROM knowledge_countedevent WHERE event_id <= %s", [event_id]
        )
        return row[0] if row else -1

    def close(self) -> None:
        self.http.close()
        if self.db is not None:
            self.db.close()


class CountingTransport(HttpTransport):
    """The SDK's HTTP transport as is, noting when it was answered with a 5xx."""

    def __init__(self, url: str, token: str) -> None:
        super().__init__(url, token)
        self.server_errors: list[float] = []
        self._http.event_hooks["response"].append(self._note)

    def _note(self, response: httpx.Response) -> None:
        if response.status_code >= 500:
            self.server_errors.append(time.monotonic())
