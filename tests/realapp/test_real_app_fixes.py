"""Three faults of a real Wagtail site fixed end to end by rules an operator wrote in the admin.

The site, its faults and AI-Ops' agents are those of ``test_real_app.py``. An operator
writes three rules in the admin form, each on a generic cause class of the site's service,
each bound to something only the deployment allow-lists:

* database contention -> a Command running ``site_ops.py end-lock-holders`` (ends the
  session idle in a transaction that holds the exclusive locks);
* upstream dependency -> a Command running ``site_ops.py restart-proxy`` (the cache proxy's
  admin port);
* deploy regression -> an ``http_webhook`` to a CI pipeline (a real HTTP server here) that
  rolls the site back to its previous release.

The remediation agent proposes a run for the real diagnosis, a user holding the approve
permission approves it (the endpoint of the dashboard's Approve button), a real Celery
worker executes it and, after the rule's watch window, verifies it on the symptom: the
problem's errors stopped (and the site answers without 5xx again).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from agents.runtime import AgentRunner
from knowledge.models import Diagnosis, Occurrence
from remediation.agent import RemediationAgent
from remediation.models import RemediationRun, RunStatus
from tests.agents.test_runtime import stop
from tests.realapp.harness import SERVICE, Operations, WagtailSite
from tests.remediation.test_operator_rules import write_rule
from tests.support import process_env

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]
SITE_OPS = Path(__file__).with_name("site_ops.py")
DONE = {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.ROLLED_BACK, RunStatus.ESCALATED}
# The rules' watch window: errors after its first quarter mean "not fixed". A quarter of 16 s
# covers a request already waiting out its 3 s lock timeout when the fix ran.
WATCH = 16


class Pipeline:
    """A CI pipeline's webhook receiver: ``POST /rollback`` redeploys the previous release
    (in the background, as a pipeline run does, answering 202 at once)."""

    def __init__(self, app: WagtailSite) -> None:
        self.calls: list[dict[str, Any]] = []
        pipeline = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                pipeline.calls.append({"path": self.path, "body": body})
                threading.Thread(target=pipeline.app.roll_back, args=(body["version"],)).start()
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.app = app
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def pipeline(site) -> Iterator[Pipeline]:
    ci = Pipeline(site)
    yield ci
    ci.close()


@pytest.fixture
def allow_lists(settings, site, pipeline) -> dict[str, str]:
    """What the deployment lists, as the environment hands it to every process."""
    commands = {
        "end_db_lock_holders": {
            "argv": [sys.executable, str(SITE_OPS), "end-lock-holders", site.database_url]
        },
        "restart_cache_proxy": {
            "argv": [sys.executable, str(SITE_OPS), "restart-proxy", site.proxy.admin_url]
        },
    }
    webhooks = {"ci_rollback": {"url": f"{pipeline.url}/rollback", "timeout": 5}}
    settings.REMEDIATION_COMMANDS, settings.REMEDIATION_WEBHOOKS = commands, webhooks
    return {"REMEDIATION_COMMANDS": json.dumps(commands),
            "REMEDIATION_WEBHOOKS": json.dumps(webhooks)}  # fmt: skip


@pytest.fixture
def worker(allow_lists) -> Iterator[None]:
    """A real Celery worker: it executes approved runs and verifies them after the window."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "aiops_site", "worker", "-P", "solo",
         "--hostname", "realapp@test", "--without-gossip", "--without-mingle",
         "--without-heartbeat", "--loglevel", "WARNING"],
        cwd=ROOT, env=process_env(**allow_lists),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    yield
    stop(proc)


@pytest.fixture
def approver(django_user_model) -> Client:
    """Someone on call with the approve permission (not a superuser), logged in."""
    user = django_user_model.objects.create_user("oona", password="pw-oona-123")
    user.user_permissions.add(Permission.objects.get(codename="approve_run"))
    client = Client()
    client.force_login(user)
    return client


def rule(admin_client, name: str, cause: str, action: str, parameters: dict) -> None:
    write_rule(
        admin_client, name=name, service=SERVICE, cause_class=cause, action=action,
        parameters=json.dumps(parameters), confidence_threshold="0.3",
        verify_after_seconds=str(WATCH), max_runs="1",
    )  # fmt: skip


def pump_until(ops: Operations, found, seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ops.pump(1)
        if value := found():
            return value
    return None


def fix(ops: Operations, approver: Client, rule_name: str) -> RemediationRun:
    """Wait for the run proposed for the fault's diagnosis, approve it, wait for its verdict."""
    waiting = RemediationRun.objects.filter(
        rule__name=rule_name, status=RunStatus.AWAITING_APPROVAL
    )
    run = pump_until(ops, waiting.first, 60)
    assert run is not None, (
        rule_name,
        "no run proposed; diagnoses:",
        list(
            Diagnosis.objects.filter(service=SERVICE).values_list(
                "signal", "confidence", "status", "root_cause"
            )
        ),
    )
    answer = approver.post(reverse("remediation:approve", args=[run.pk]))
    assert answer.status_code == 200, answer.content
    verdict = pump_until(ops, lambda: RemediationRun.objects.filter(pk=run.pk, status__in=DONE)
                         .first(), WATCH + 40)  # fmt: skip
    assert verdict is not None, (
        rule_name,
        "no verdict",
        list(run.transitions.order_by("pk").values_list("to_status", "reason")),
    )
    return verdict


def explain(run: RemediationRun, app: WagtailSite) -> dict[str, Any]:
    """What a failing assertion shows: the run's steps, its output, the errors after it."""
    acted = run.executed_at.timestamp() if run.executed_at else 0
    return {
        "steps": list(run.transitions.order_by("pk").values_list("to_status", "reason")),
        "output": list(run.attempts.values_list("detail", flat=True)),
        "sightings after (s)": sorted(
            round(at.timestamp() - acted, 1)
            for at in Occurrence.objects.filter(service=SERVICE).values_list("last_at", flat=True)
            if at.timestamp() > acted
        ),
        "5xx after (s)": [round(at - acted, 1) for at, st, _ in app.responses
                          if at > acted and st >= 500],
    }  # fmt: skip


def errors_stopped(app: WagtailSite, since: float) -> bool:
    """The symptom as a user sees it: no 5xx answers for the last 5 s of traffic."""
    recent = [status for at, status, _ in app.responses if at > since and at > time.time() - 5]
    return bool(recent) and all(0 < status < 500 for status in recent)


def in_background(fault, *args: Any) -> list[Any]:
    """Run ``fault`` in a thread; the list gets what it returns (whether it was ended)."""
    result: list[Any] = []
    threading.Thread(target=lambda: result.append(fault(*args)), daemon=True).start()
    return result


def test_operator_rules_fix_a_wagtail_sites_faults_verified_on_the_symptom(
    site, pipeline, worker, approver, admin_client
):
    rule(admin_client, "end-db-lock-holders", "database-contention", "command",
         {"command": "end_db_lock_holders"})  # fmt: skip
    rule(admin_client, "restart-cache-proxy", "upstream-dependency", "command",
         {"command": "restart_cache_proxy"})  # fmt: skip
    rule(admin_client, "roll-back-bad-deploys", "deploy-regression", "http_webhook",
         {"webhook": "ci_rollback", "body": {"pipeline": SERVICE, "version": "2.1"}})  # fmt: skip
    ops = Operations()
    ops.runners.append(AgentRunner(RemediationAgent(), consumer="realapp-remediation"))
    site.start_traffic()
    ops.pump(10)

    for name, start_fault in (
        ("end-db-lock-holders", lambda: in_background(site.lock_database, 180)),
        ("restart-cache-proxy", lambda: in_background(site.hang_upstream, 180)),
        ("roll-back-bad-deploys", lambda: site.bad_deploy("2.0")),
    ):
        began = time.time()
        ended = start_fault()
        run = fix(ops, approver, name)
        ops.pump(3)

        steps = list(run.transitions.order_by("pk").values_list("to_status", "reason"))
        assert run.status == RunStatus.SUCCEEDED, (name, explain(run, site))
        assert "no new occurrences" in steps[-1][1], (name, explain(run, site))
        assert errors_stopped(site, began), (name, "the site still answers 5xx")
        if ended is not None:  # the lock holder was ended, the proxy restarted, by the rule
            assert ended == [True], name
    assert [c["body"] for c in pipeline.calls] == [{"pipeline": SERVICE, "version": "2.1"}]
    assert site.version == "2.1"
