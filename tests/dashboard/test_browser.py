"""End to end in headless Chromium against a real uvicorn: log in, watch panels change
without a reload, follow the server through a restart, approve a run with one click; and
the whole story on real parts: a Celery worker comes alive, a fault is published, its
approval prompt appears, one click, the run restarts the service through its control API
and the page shows it succeeded, all without a reload."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO

import httpx
import pytest
from django.db import connection

from agents import mesh
from agents.events import parse_event
from agents.models import Agent, AgentStatus
from dashboard.live import push_panels
from dashboard.panels import sample_streams
from knowledge.seed import seed_knowledge
from remediation.models import RemediationRun, Rule
from tests.dashboard.conftest import PASSWORD, SCREENSHOTS
from tests.support import process_env

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _server_env() -> dict[str, str]:
    return process_env(LOG_FORMAT="text")


def _start_server(port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "uvicorn", "aiops_site.asgi:application", "--host", "127.0.0.1",
            "--port", str(port), "--lifespan", "off", "--ws", "websockets", "--no-access-log",
        ],
        cwd=ROOT, env=_server_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read().decode()[-3000:])
        try:
            if httpx.get(f"http://127.0.0.1:{port}/accounts/login/", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise AssertionError("uvicorn did not start")


def _start_worker(log: IO[bytes]) -> subprocess.Popen:
    """A real Celery worker on the test database and Redis db: it runs the tasks the web
    process enqueues (execute_run, verify_run) and, in threads, every registered agent."""
    return subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "aiops_site", "worker", "--pool", "solo",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
            "--loglevel", "WARNING", "--hostname", f"e2e-{os.getpid()}@%h",
        ],
        cwd=ROOT, env=_server_env(), stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _push(names: list[str]) -> None:
    """Push from another thread: Playwright's loop owns this one, and async_to_sync refuses
    to run beside it."""

    def run() -> None:
        try:
            push_panels(names)
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(run).result()


TRAFFIC = (
    ("bookmark.searched", {"user_id": "u-1", "results": 3, "latency_ms": 12.0}),
    ("api.request", {"method": "GET", "endpoint": "/api/x", "status": 200, "latency_ms": 9.0}),
)


def _some_traffic() -> None:
    """Stream samples a second apart, so the event-rate chart has lines to draw."""
    for round_ in range(3):
        events = [
            parse_event({"type": t, "source": "bookmarks", "payload": payload})
            for t, payload in TRAFFIC
            for _ in range((round_ + 1) * (10 if t == "api.request" else 4))
        ]
        mesh.publish_many(events)
        sample_streams(force=True)
        time.sleep(1.05)


def test_an_operator_watches_the_dashboard_change_live_and_approves_a_run(
    browser_page, operator_login, monitor_agent, open_problem, make_pending_run
):
    from playwright.sync_api import expect

    page = browser_page
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    _some_traffic()
    server = _start_server(port)
    try:
        page.goto(base + "/")
        page.fill("#id_username", "otto")
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        expect(page.locator("#panel-agents")).to_contain_text("monitor")
        expect(page.locator("#live-state")).to_have_text("live", timeout=10_000)
        page.evaluate("window.__noReload = true")

        Agent.objects.filter(pk=monitor_agent.pk).update(
            status=AgentStatus.DOWN, current_activity="silent since 12:00"
        )
        _push(["agents"])
        row = page.locator("#agent-monitor")
        expect(row.locator(".status")).to_have_text("down", timeout=5_000)
        expect(row).to_contain_text("silent since 12:00")
        assert page.evaluate("window.__noReload") is True
        page.screenshot(path=str(SCREENSHOTS / "overview.png"), full_page=True)

        # The server restarts: the page reconnects and catches up without a reload.
        _stop(server)
        expect(page.locator("#live-state")).to_have_text("reconnecting", timeout=10_000)
        Agent.objects.filter(pk=monitor_agent.pk).update(status=AgentStatus.RUNNING)
        server = _start_server(port)
        expect(row.locator(".status")).to_have_text("running", timeout=30_000)
        assert page.evaluate("window.__noReload") is True

        # A run starts waiting: its prompt appears without a reload; then one click.
        expect(page.locator("#panel-approvals")).to_contain_text("Nothing waits for approval")
        pending_run = make_pending_run()
        _push(["approvals", "runs"])
        prompt = page.locator(f"#approval-{pending_run.pk}")
        expect(prompt).to_contain_text("would restart bookmarks/web-1")
        prompt.scroll_into_view_if_needed()
        page.screenshot(path=str(SCREENSHOTS / "approval-prompt.png"), full_page=True)
        prompt.get_by_role("button", name="Approve").click()
        expect(prompt).to_have_count(0, timeout=5_000)
        pending_run.refresh_from_db()
        assert pending_run.status != "awaiting_approval"
        expect(page.locator(f"#run-{pending_run.pk} .status")).not_to_have_text("awaiting_approval")
        # A second click (replayed by hand) is refused and changes nothing.
        second = page.evaluate(
            """async (url) => (await fetch(url, {method: "POST", headers: {
                 "X-CSRFToken": JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"]
               }})).status""",
            f"/remediation/runs/{pending_run.pk}/approve",
        )
        assert second == 409
        assert pending_run.approvals.count() == 1
        assert page.evaluate("window.__noReload") is True

        # With JavaScript off the same pages still log in and show every panel and chart.
        static = page.context.browser.new_context(java_script_enabled=False).new_page()
        static.goto(base + "/")
        static.fill("#id_username", "otto")
        static.fill("#id_password", PASSWORD)
        static.click("button[type=submit]")
        expect(static.locator("#panel-agents")).to_contain_text("monitor")
        expect(static.locator("#panel-rates svg polyline").first).to_be_attached()
        expect(static.locator("#live-state")).to_have_text("static")
        static.context.close()
    finally:
        _stop(server)


def _log_in(page, base: str) -> None:
    page.goto(base + "/")
    page.fill("#id_username", "otto")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")


def _import_timeouts(count: int) -> list:
    """The fault: a burst of large imports timing out on bookmarks/web-1."""
    return [
        parse_event(
            {"type": "import.failed", "source": "bookmarks", "instance": "web-1",
             "severity": "error", "payload": {
                 "import_id": f"imp-{n}", "user_id": f"user-{n % 7}", "source": "chrome",
                 "error": "Timeout after 30s while inserting bookmarks batch into database",
                 "error_type": "ImportTimeout", "bookmark_count": 52000, "batch_size": 1000}}
        )
        for n in range(count)
    ]  # fmt: skip


VERIFY_AFTER_SECONDS = 2


@pytest.fixture
def restart_rule(db) -> Rule:
    """Import timeouts on bookmarks restart it (rolling), with an operator's approval, and
    are verified two seconds later."""
    return Rule.objects.create(
        name="e2e-restart-bookmarks-on-import-timeout", signal="import_timeout",
        service="bookmarks", action="restart_service", parameters={"rolling": True},
        risk="medium", requires_approval=True, confidence_threshold=0.5, cooldown_seconds=0,
        verify_after_seconds=VERIFY_AFTER_SECONDS,
    )  # fmt: skip


def test_an_approved_fix_runs_on_a_real_worker_and_the_page_shows_it_succeeded(
    browser_page, operator_login, control, restart_rule, tmp_path
):
    from playwright.sync_api import expect

    seed_knowledge()  # the known problems the diagnosis recognises import timeouts by
    # Agents outside this story stay switched off (the runner obeys the switch), so no
    # burst anomaly of theirs can open a second diagnosis or fail the verification.
    for name in ("bookmark-monitor", "bookmark-learning"):
        Agent.objects.create(
            name=name, kind=name.split("-")[1], enabled=False, status=AgentStatus.DISABLED
        )
    page = browser_page
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = _start_server(port)
    worker = None
    worker_log = tmp_path / "worker.log"
    try:
        _log_in(page, base)
        expect(page.locator("#live-state")).to_have_text("live", timeout=10_000)
        page.evaluate("window.__noReload = true")
        expect(page.locator("#agent-dashboard-relay")).to_have_count(0)

        # A worker starts: its agents come alive on the page (the relay pushes their status).
        with worker_log.open("wb") as log:
            worker = _start_worker(log)
        for agent in ("dashboard-relay", "bookmark-diagnostic", "remediation"):
            expect(page.locator(f"#agent-{agent} .status")).to_have_text("running", timeout=60_000)
        expect(page.locator("#agent-bookmark-monitor .status")).to_have_text("disabled")

        # The fault: diagnosed on bookmarks, matched to the rule, its prompt appears.
        mesh.publish_many(_import_timeouts(40))
        prompt = page.locator("#panel-approvals li.approval")
        expect(prompt).to_have_count(1, timeout=30_000)
        run = RemediationRun.objects.get()
        assert (run.rule_id, run.service, run.status) == (
            restart_rule.pk,
            "bookmarks",
            "awaiting_approval",
        )
        assert run.diagnosis.signal == "import_timeout"
        expect(prompt).to_have_attribute("id", f"approval-{run.pk}")
        expect(prompt).to_contain_text("Restart service on bookmarks/web-1")
        expect(prompt).to_contain_text("Restart bookmarks instances web-1, web-2 one at a time.")
        expect(page.locator(f"#run-{run.pk} .status")).to_have_class(
            re.compile(r"\bstatus-awaiting_approval\b")
        )
        assert control.requests == []  # nothing is done before the operator decides
        prompt.scroll_into_view_if_needed()

        # One click: the web process enqueues execute_run; the worker restarts bookmarks
        # through its control API, verifies after the rule's window, and the page follows.
        prompt.get_by_role("button", name="Approve").click()
        expect(prompt).to_have_count(0, timeout=10_000)
        outcome = page.locator(f"#run-{run.pk} .status")
        expect(outcome).to_have_class(re.compile(r"\bstatus-succeeded\b"), timeout=60_000)
        expect(outcome).to_have_text(re.compile("succeeded", re.I))
        assert page.evaluate("window.__noReload") is True
        page.locator("#panel-runs").scroll_into_view_if_needed()
        page.screenshot(path=str(SCREENSHOTS / "run-succeeded.png"), full_page=True)

        run.refresh_from_db()
        assert run.status == "succeeded"
        moves = list(run.transitions.order_by("at").values_list("to_status", "at"))
        assert [to for to, _ in moves] == [
            "awaiting_approval", "approved", "running", "verifying", "succeeded"
        ]  # fmt: skip
        verifying_at, succeeded_at = moves[-2][1], moves[-1][1]
        # verify_run ran after the rule's countdown (ETA), not at once.
        assert (succeeded_at - verifying_at).total_seconds() >= VERIFY_AFTER_SECONDS - 0.1
        assert run.approvals.get().user.username == "otto"
        [request] = control.requests  # the operation reached the service exactly once
        assert request["operation"] == "restart"
        assert request["key"] == f"remediation-{run.pk}-restart"
        assert request["body"]["run"] == run.pk
        assert request["body"]["params"] == {"instances": ["web-1", "web-2"], "rolling": True}
    except BaseException:
        if worker_log.exists():
            print("--- celery worker log ---\n" + worker_log.read_text()[-5000:])
        raise
    finally:
        if worker is not None:
            _stop(worker)
        _stop(server)
