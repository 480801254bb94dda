"""A real open-source Django application (a Wagtail site, from PyPI) under AI-Ops, with faults.

The site is what ``wagtail start`` makes, unchanged but for deployment settings any Django
site may have (``site_settings.py``): the SDK in ``INSTALLED_APPS`` as ``docs/sdk.md`` says,
its own PostgreSQL database in the embedded server the tests use (``database.py``), and
Django's per-site cache on a Redis server reached through a TCP proxy this harness controls.
It runs in its own process (``runserver``) and reports to a live AI-Ops ingest API; faults
come from outside the app:

* **a locked database** -- another session holds ``ACCESS EXCLUSIVE`` locks on the tables
  the pages read, until it lets go or an operator ends it;
* **an upstream that hangs** -- the proxy to the cache server stops passing bytes, until it
  lets go or an operator restarts it (``POST /restart`` on its admin port, as HAProxy's or
  Envoy's admin interface would take);
* **a deploy that raises** -- a new release whose search template names a missing route,
  announced with ``aiops_sdk.deploy_finished`` as a deploy script would;
* **a huge upload** -- request bodies past Django's upload limit.

Shared by ``tests/realapp/test_real_app.py`` (short), ``test_real_app_fixes.py`` (fixed by
operator-written rules) and ``benchmarks/bench_real_app.py``.
"""

from __future__ import annotations

import contextlib
import os
import random
import select
import shutil
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

import httpx
import psycopg
from django.conf import settings

from tests.realapp import database

SITE_SETTINGS = Path(__file__).with_name("site_settings.py")
SERVICE = "wagtail-demo"
# What the pages read: the page tree, the site root, the search index.
PAGE_TABLES = ("wagtailcore_page", "wagtailcore_site", "wagtailsearch_indexentry")
WORDS = ("news", "about", "home", "blog", "contact", "events", "team", "press", "jobs", "faq")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def site_env(database_url: str, cache_url: str, **extra: str) -> dict[str, str]:
    """The site's environment, as a deployment hands it over (none of this test run's)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "AIOPS"))}
    env.update(
        DJANGO_SETTINGS_MODULE="demo.settings.aiops", SITE_DATABASE_URL=database_url,
        SITE_CACHE_URL=cache_url, AIOPS_URL="http://127.0.0.1:9", AIOPS_TOKEN="-",
        AIOPS_SERVICE=SERVICE,
    )  # fmt: skip
    env.update(extra)
    return env


def build_site(cache_dir: Path, run_dir: Path) -> Path:
    """A fresh copy of a ``wagtail start`` site (made once), its migrated database template
    ensured (``database.py``)."""
    template = cache_dir / "wagtail-site"
    if not (template / "manage.py").exists():
        shutil.rmtree(template, ignore_errors=True)
        template.mkdir(parents=True)
        wagtail = Path(sys.executable).with_name("wagtail")
        subprocess.run([str(wagtail), "start", "demo", str(template)], check=True,
                       capture_output=True)  # fmt: skip
    shutil.rmtree(run_dir, ignore_errors=True)
    shutil.copytree(template, run_dir, ignore=shutil.ignore_patterns("db.*"))
    shutil.copy(SITE_SETTINGS, run_dir / "demo" / "settings" / "aiops.py")

    def migrate(url: str) -> None:
        env = site_env(url, settings.REDIS_URL)
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=run_dir, env=env,
                       check=True, capture_output=True)  # fmt: skip

    database.ensure_template(migrate)
    return run_dir


class HangingProxy:
    """A TCP proxy to a real server that can stop passing bytes (a hung upstream), with an
    admin port whose ``POST /restart`` drops every connection and starts afresh."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.hang = threading.Event()
        self.restarted = threading.Event()
        self.sockets: set[socket.socket] = set()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()
        self.admin = ThreadingHTTPServer(("127.0.0.1", 0), self._admin_handler())
        self.admin_url = f"http://127.0.0.1:{self.admin.server_address[1]}"
        threading.Thread(target=self.admin.serve_forever, daemon=True).start()

    def _admin_handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Admin(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                found = self.path == "/restart"
                if found:
                    proxy.restart()
                self.send_response(200 if found else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()

        return Admin

    def restart(self) -> None:
        """What restarting a wedged proxy does: every connection dropped, bytes flow again."""
        self.hang.clear()
        self.restarted.set()
        for sock in list(self.sockets):
            with contextlib.suppress(OSError):
                sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.sockets |= {client, upstream}
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                while self.hang.is_set():
                    time.sleep(0.05)  # hold the bytes: the caller waits for its timeout
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                self.sockets.discard(s)
                with contextlib.suppress(OSError):
                    s.close()

    def close(self) -> None:
        self.listener.close()
        self.admin.shutdown()
        self.admin.server_close()


class WagtailSite:
    """The site's own process, its traffic and the faults injected into it."""

    def __init__(self, site: Path, *, aiops_url: str, token: str, redis_url: str) -> None:
        self.site = site
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        parsed = urlparse(redis_url)
        self.proxy = HangingProxy((parsed.hostname or "127.0.0.1", parsed.port or 6379))
        self.aiops_url, self.token = aiops_url, token
        self.database = database.create_copy()
        self.database_url = database.url_for(self.database)
        self.version = "1.0"
        self.process: subprocess.Popen | None = None
        self.stop_traffic = threading.Event()
        self.responses: list[tuple[float, int, float]] = []  # (time, status, seconds)

    # -- the process ------------------------------------------------------------------------
    def start(self) -> None:
        env = site_env(
            self.database_url, f"redis://127.0.0.1:{self.proxy.port}/13",
            AIOPS_URL=self.aiops_url, AIOPS_TOKEN=self.token, SITE_VERSION=self.version,
        )  # fmt: skip
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{self.port}", "--noreload"],
            cwd=self.site, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("the Wagtail site did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def close(self) -> None:
        self.stop_traffic.set()
        self.stop()
        self.proxy.close()
        database.drop(self.database)

    # -- traffic ------------------------------------------------------------------------------
    def start_traffic(self, clients: int = 4, pause: float = 0.3, seed: int = 1) -> None:
        for n in range(clients):
            threading.Thread(target=self._client, args=(random.Random(seed + n), pause),
                             daemon=True).start()  # fmt: skip

    def _client(self, rng: random.Random, pause: float) -> None:
        with httpx.Client(base_url=self.url, timeout=15) as client:
            while not self.stop_traffic.is_set():
                if rng.random() < 0.6:
                    path = "/"
                else:
                    path = f"/search/?query={rng.choice(WORDS)}{rng.randrange(10**6)}"
                began = time.monotonic()
                try:
                    status = client.get(path).status_code
                except httpx.HTTPError:
                    status = 0
                self.responses.append((time.time(), status, time.monotonic() - began))
                time.sleep(rng.uniform(0.5, 1.5) * pause)

    def spike(self, requests: int = 30) -> None:
        """An ordinary spike (a cron job, a crawler): a burst of concurrent searches."""

        def one(n: int) -> None:
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(f"{self.url}/search/?query=cron{n}", timeout=15)

        for n in range(requests):
            threading.Thread(target=one, args=(n,), daemon=True).start()

    # -- faults -------------------------------------------------------------------------------
    def lock_database(self, seconds: float) -> bool:
        """Another session locks the tables the pages read, ``ACCESS EXCLUSIVE``, and sits
        idle in its transaction for ``seconds`` (a forgotten console session). Returns
        whether it was ended before that."""
        connection = psycopg.connect(self.database_url)
        try:
            connection.execute(f"LOCK TABLE {', '.join(PAGE_TABLES)} IN ACCESS EXCLUSIVE MODE")
            # It sends nothing (so it stays "idle in transaction"); the server writes to an
            # idle session only to end it.
            ended, _, _ = select.select([connection.fileno()], [], [], seconds)
            if not ended:
                connection.rollback()
            return bool(ended)
        finally:
            connection.close()

    def hang_upstream(self, seconds: float) -> bool:
        """The cache proxy hangs for ``seconds``; returns whether it was restarted before."""
        self.proxy.restarted.clear()
        self.proxy.hang.set()
        restarted = self.proxy.restarted.wait(seconds)
        self.proxy.hang.clear()
        return restarted

    def bad_deploy(self, version: str) -> None:
        """Ship a release whose search page names a route that does not exist."""
        from aiops_sdk import deploy_finished

        template = self.site / "search" / "templates" / "search" / "search.html"
        self._good_template = template.read_text()
        template.write_text(self._good_template.replace(
            "{% block content %}", "{% block content %}<a href=\"{% url 'search-help' %}\">?</a>"
        ))  # fmt: skip
        self._restart(version)
        deploy_finished(version, service=SERVICE, url=self.aiops_url, token=self.token)

    def roll_back(self, version: str) -> None:
        template = self.site / "search" / "templates" / "search" / "search.html"
        template.write_text(self._good_template)
        self._restart(version)

    def _restart(self, version: str) -> None:
        self.stop()
        self.version = version
        self.start()

    def huge_uploads(self, count: int = 8, megabytes: int = 5) -> None:
        """Form posts past Django's upload limit from a browser session: with the CSRF cookie
        (from the login page) Django reads the body and refuses it as too big; without it,
        the CSRF check would answer 403 before reading anything."""
        body = b"x" * (megabytes * 1024 * 1024)
        with httpx.Client(base_url=self.url, timeout=15) as browser:
            with contextlib.suppress(httpx.HTTPError):
                browser.get("/admin/login/")
            for _ in range(count):
                with contextlib.suppress(httpx.HTTPError):
                    browser.post(
                        "/search/",
                        content=body,
                        headers={"Content-Type": "application/x-www-form-urlencoded"},
                    )


class Operations:
    """AI-Ops' monitor and diagnostic agents, driven in this process on the live mesh."""

    def __init__(self) -> None:
        from agents.diagnostic.agent import BookmarkDiagnosticAgent
        from agents.monitor.agent import BookmarkMonitorAgent
        from agents.runtime import AgentRunner

        self.monitor = BookmarkMonitorAgent()
        self.runners = [
            AgentRunner(self.monitor, consumer="realapp-monitor"),
            AgentRunner(BookmarkDiagnosticAgent(), consumer="realapp-diagnostic"),
        ]
        self._last_tick = 0.0

    def pump(self, seconds: float) -> None:
        """Handle what arrives for ``seconds``; the monitor ticks every 2 s."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for runner in self.runners:
                runner.run_once(block_ms=50)
            if time.monotonic() - self._last_tick >= 2.0:
                self._last_tick = time.monotonic()
                self.monitor.tick()


def verdict(start: float, end: float, expected: str, *, grace: float = 30.0) -> dict:
    """What AI-Ops made of one fault: detection delay, problems, top cause class, confidence."""
    from datetime import UTC, datetime

    from agents.models import Anomaly
    from knowledge.models import Diagnosis, Occurrence

    since = datetime.fromtimestamp(start, UTC)
    until = datetime.fromtimestamp(end + grace, UTC)
    diagnoses = list(
        Diagnosis.objects.filter(service=SERVICE, created_at__gte=since, created_at__lte=until)
    )
    anomalies = Anomaly.objects.filter(detected_at__gte=since, detected_at__lte=until)
    firsts = [d.created_at for d in diagnoses] + [a.detected_at for a in anomalies]
    delay = (min(firsts) - since).total_seconds() if firsts else None
    problems = (
        Occurrence.objects.filter(service=SERVICE, last_at__gte=since, last_at__lte=until)
        .exclude(problem__title__startswith="Anomaly on")  # symptoms, not causes
        .values("problem")
        .distinct()
        .count()
    )
    best = max(diagnoses, key=lambda d: d.confidence, default=None)
    return {
        "expected": expected,
        "detected_after": delay,
        "problems": problems,
        "diagnoses": len(diagnoses),
        "top_class": best.signal if best else "",
        "confidence": best.confidence if best else 0.0,
        "right": bool(best and best.signal == expected),
    }
