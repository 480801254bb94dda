"""Every admin changelist, and a change form of each model with a row (and rows inline),
rendered in headless Chromium with long, realistic rows: no cell overflows its column and no
table is wider than its container at 1280 px (an operator at 3 a.m. must not scroll sideways
to find "Last seen"), and the dashboard's own pages the same at 390 px (a phone). The admin
at 390 px: the page never moves sideways, wide tables scroll inside their own box, no column
is squeezed to a few letters a line and an inline row's "Change" link stays on screen.
Screenshots at 1440, 1280 and 390 px go to var/screenshots/admin/ for a human to look at."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.utils import timezone

from agents.models import (
    Agent,
    AgentStatus,
    Anomaly,
    ApiToken,
    MetricSeries,
    Service,
    ServiceInstance,
)
from agents.runtime import sync_agent_rows
from knowledge.models import Diagnosis, Occurrence, Problem, Recommendation, Severity, Solution
from knowledge.seed import seed_knowledge
from tests.dashboard.conftest import SCREENSHOTS
from tests.dashboard.test_browser import _free_port, _start_server, _stop

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-admin-layout-1"
LONG_TITLE = (
    "Bookmark import worker timed out after 300s while fetching the remote feed "
    "https://feeds.example.com/users/alice-long-name/bookmarks/export?format=netscape&page=17"
)

# Cells (and tables) wider than their box by more than a pixel of rounding.
OVERFLOWS = """() => {
  const out = [];
  for (const table of document.querySelectorAll("#result_list, main table, #content table")) {
    const box = table.closest(".results") || table.parentElement;
    const name = table.id || table.closest("[id]")?.id || "table";
    if (table.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
      out.push(name + " wider than the window: " + Math.round(table.getBoundingClientRect().width));
    if (box.scrollWidth > box.clientWidth + 1)
      out.push(name + " wider than its box: " + box.scrollWidth + " > " + box.clientWidth);
    for (const cell of table.querySelectorAll("th, td")) {
      if (cell.scrollWidth > cell.clientWidth + 1) {
        const head = table.querySelectorAll("thead th")[cell.cellIndex];
        out.push(name + " " + (head ? head.innerText.trim() : cell.cellIndex) + ": "
                 + cell.innerText.trim().slice(0, 60)
                 + " (" + cell.scrollWidth + " > " + cell.clientWidth + ")");
      }
    }
  }
  // The dashboard's panels: nothing (an Approve button, a long id) may stick out of one.
  for (const panel of document.querySelectorAll(".panel"))
    if (panel.scrollWidth > panel.clientWidth + 1)
      out.push((panel.id || "panel") + " overflows: " + panel.scrollWidth + " > "
               + panel.clientWidth);
  if (document.documentElement.scrollWidth > document.documentElement.clientWidth + 1)
    out.push("page scrolls sideways: " + document.documentElement.scrollWidth);
  return out;
}"""

# On a phone (390 px) the admin's wide tables scroll inside their own box (Django's
# ``.results`` and ``.inline-group``): that is the way to reach "Last seen". What must not
# happen is the page itself moving sideways, anything outside a box that scrolls (and fits
# the screen) sticking out of the screen, a cell clipping its own text, or a column squeezed
# to a few letters a line (a title 50 px wide made rows 1,000 px tall before admin.css).
PHONE_OVERFLOWS = """() => {
  const SQUEEZED = 8;  // letters a line, on average
  const width = document.documentElement.clientWidth;
  const out = [];
  if (document.documentElement.scrollWidth > width + 1)
    out.push("page scrolls sideways: " + document.documentElement.scrollWidth + " > " + width);
  const scrolls = (el) => ["auto", "scroll"].includes(getComputedStyle(el).overflowX);
  const name = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
    + (el.className && typeof el.className === "string"
       ? "." + el.className.trim().split(/\\s+/).join(".") : "");
  for (const el of document.body.querySelectorAll("*")) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.right <= width + 1) continue;
    let up = el.parentElement;
    while (up && up !== document.body && !scrolls(up)) up = up.parentElement;
    if (up && up !== document.body && up.getBoundingClientRect().right <= width + 1)
      continue;  // reachable by scrolling that box
    out.push(name(el) + " sticks out of the screen: " + Math.round(box.right) + " > " + width
             + " (" + (el.innerText || el.value || "").trim().slice(0, 50) + ")");
  }
  // How many lines a cell's text takes: the distinct tops of its text's line boxes.
  const linesOf = (cell) => {
    const tops = new Set();
    const walk = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walk.nextNode(); node; node = walk.nextNode()) {
      const range = document.createRange();
      range.selectNodeContents(node);
      if (!node.data.trim()) continue;
      for (const box of range.getClientRects()) if (box.width > 0) tops.add(Math.round(box.top));
    }
    return tops.size;
  };
  for (const cell of document.querySelectorAll("td, tbody th")) {
    const text = cell.innerText.trim();
    if (cell.scrollWidth > cell.clientWidth + 1)
      out.push("cell clips its text: " + text.slice(0, 60)
               + " (" + cell.scrollWidth + " > " + cell.clientWidth + ")");
    // Django's "original" cell is 0 wide by design (its line is laid over the row); the
    // inlines' hidden empty form is not shown at all.
    if (!cell.getClientRects().length || cell.classList.contains("original")) continue;
    const lines = linesOf(cell);
    if (lines >= 3 && text.length / lines < SQUEEZED)
      out.push("column squeezed to " + Math.round(text.length / lines) + " letters a line ("
               + lines + " lines): " + text.slice(0, 60));
  }
  // An inline row's "Change" link sits on Django's clipped line over the row: it must be
  // on screen, not cut off with the end of a long name.
  for (const link of document.querySelectorAll(".inlinechangelink, .inlineviewlink")) {
    const box = link.getBoundingClientRect(), line = link.parentElement.getBoundingClientRect();
    const inside = box.right <= Math.min(line.right, width) + 1 && box.bottom <= line.bottom + 1;
    if (box.width && !inside)
      out.push("an inline's Change link is cut off: " + link.closest("tr").innerText.slice(0, 60));
  }
  return out.slice(0, 15);
}"""

PANEL_WIDTHS = "(ids) => ids.map(id => document.getElementById(id).getBoundingClientRect().width)"

# What a dict or a list looks like when dumped instead of read, and a log template's token.
RAW_TEXT = ("{", "}", "[{", '["', "': '", '": "', "<*>")
# Where each page shows stored JSON (and so where raw text would show): the admin's JSON rows,
# the dashboard's whole main column.
STORED_DATA = {
    "knowledge-diagnosis-change": ".field-hypotheses, .field-evidence, .field-suggestions",
    "knowledge-recommendation-change": ".field-evidence",
    "remediation-remediationrun-change":
        ".field-parameters, .field-blast_radius, .field-evidence, .field-result",
    "remediation-auditentry-change": ".field-data",
    "agents-anomaly-change": ".field-evidence",
    "agents-agent-change": ".field-subscribes, .field-workers",
    "knowledge-problem-change": ".field-events",
    "knowledge-pattern-change": ".field-content",
    "dashboard-overview": "main",
    "dashboard-problem": "main",
    "dashboard-incident": "main",
    "dashboard-run": "main",
    "dashboard-events": "main",
}  # fmt: skip
# Every disclosure open: what it holds must fit and read well too.
OPEN_DETAILS = "() => document.querySelectorAll('details').forEach(d => { d.open = true; })"
STORED_TEXT = "(selector) => [...document.querySelectorAll(selector)].map(e => e.innerText)"


def _raw_text(page, name: str) -> list[str]:
    """Raw dict/list text in the parts of the page that show stored data."""
    selector = STORED_DATA.get(name)
    if selector is None:
        return []
    texts = page.evaluate(STORED_TEXT, selector)
    assert texts, f"{name}: nothing matches {selector}"
    return [f"{raw!r} in {text[:200]!r}" for text in texts for raw in RAW_TEXT if raw in text]


def _realistic_rows() -> None:
    """Long titles, long services and signals, many columns filled: the rows that clip."""
    seed_knowledge()
    sync_agent_rows()
    now = timezone.now()
    service = Service.objects.create(name="bookmarks-import-worker-eu-west-1", version="2.14.3")
    ServiceInstance.objects.create(
        service=service, instance_id="bookmarks-import-worker-eu-west-1-7f9c6d5b8-x2k4q",
        last_heartbeat_at=now,
    )  # fmt: skip
    for n in range(3):
        problem = Problem.objects.create(
            fingerprint=f"layout:long-{n}:" + "f" * 40,
            title=LONG_TITLE,
            severity=Severity.CRITICAL,
            signal="bookmark_import_remote_feed_timeout",
            occurrence_count=123456,
            services=[service.name],
        )
        Problem.objects.filter(pk=problem.pk).update(last_seen=now - timedelta(minutes=3 + n))
        Diagnosis.objects.create(
            problem=problem, service=service.name, instance="web-1",
            trigger_event_id=f"evt-{n}-" + "0123456789abcdef" * 2,
            trigger_type="bookmark.import.failed", root_cause=LONG_TITLE,
            signal="bookmark_import_remote_feed_timeout", confidence=0.87,
            hypotheses=_hypotheses(problem.pk), evidence=_evidence(problem.pk, service.name),
            suggestions=[{"solution": 1, "action": "restart_service", "title": LONG_TITLE,
                          "parameters": {"rolling": True, "only_unhealthy": False}}],
        )  # fmt: skip
    Agent.objects.update(workers={
        f"celery@bookmarks-import-worker-eu-west-1-{n}:consumer-{n}": now.timestamp() - n
        for n in range(3)
    })  # fmt: skip
    Agent.objects.filter(name="bookmark-monitor").update(
        status=AgentStatus.RUNNING, last_heartbeat=now,
        current_activity="handling 1,234 events from bookmarks-import-worker-eu-west-1",
    )  # fmt: skip
    MetricSeries.objects.get_or_create(name="bookmarks.import.remote_feed.latency_ms.p99")
    ApiToken.issue(
        "import workers in eu-west-1 (rolled out with 2.14.3)", service.name,
        scopes=["events:write", "instances:register"], also_services=["bookmarks-web-eu-west-1"],
    )  # fmt: skip
    _inline_rows(problem, service.name)
    _remediation_rows(service.name, Diagnosis.objects.filter(problem__title=LONG_TITLE).first())


def _inline_rows(problem: Problem, service: str) -> None:
    """The rows the change forms list inline (a problem's solutions and latest minutes), with
    the long words production gives them."""
    Solution.objects.create(
        problem=problem, title=LONG_TITLE, action="retry_with_smaller_batch",
        parameters={"batch_size": 250},
    )  # fmt: skip
    Occurrence.objects.create(
        problem=problem, at=Occurrence.bucket(timezone.now()), service=service,
        instance=f"{service}-7f9c6d5b8-x2k4q", count=1234,
        event_ids=[f"01JDZ{n:021d}" for n in range(5)],
    )  # fmt: skip


def _hypotheses(problem: int) -> list[dict]:
    """What agents/diagnostic/reasoning.py stores: ranked causes with nested evidence."""
    return [
        {"cause": LONG_TITLE, "kind": "known-problem", "score": 2.31, "signal": "import_timeout",
         "problem": problem, "evidence": [
             {"kind": "similar-problem", "problem": problem, "similarity": 0.913},
             {"kind": "anomaly", "event": "01JDZ" + "X" * 21,
              "series": "bookmarks.import.remote_feed.latency_ms.p99{endpoint=/api/import}"},
             {"kind": "workload", "bookmark_count": 48210, "batch_size": 500,
              "source": "netscape"}]},
        {"cause": "deploy 2.14.3 on bookmarks-import-worker-eu-west-1 4 min before",
         "kind": "recent-change", "score": 0.9, "signal": "deploy", "problem": None,
         "evidence": [{"kind": "change", "event": "01JDY", "type": "deploy.finished",
                       "service": "bookmarks-import-worker-eu-west-1", "minutes_before": 4.2,
                       "new_since_change": True}]},
    ]  # fmt: skip


def _evidence(problem: int, service: str) -> dict:
    """What agents/diagnostic/agent.py stores: counts, the trigger's payload, similar problems
    and a corroborating anomaly, with a user-written HTML payload in the error text."""
    return {
        "message": LONG_TITLE + " <script>alert('x')</script>",
        "event_ids": [f"01JDZ{n:021d}" for n in range(50)],
        "instances": {f"{service}-7f9c6d5b8-x2k4q": 1234, "web-2": 3, "": 1},
        "affected_users": 317,
        "trigger": {
            "error": LONG_TITLE, "error_type": "httpx.ReadTimeout", "bookmark_count": 48210,
            "batch_size": 500, "source": "netscape", "user_id": 90210, "retryable": True,
            "started_at": (timezone.now() - timedelta(minutes=7)).isoformat(),
            "exception": {"type": "httpx.ReadTimeout", "message": LONG_TITLE, "frames": [
                {"file": "bookmarks/importers/netscape/remote_feed_fetcher.py", "line": 217,
                 "function": "fetch_remote_feed_with_retries_and_backoff"},
                {"file": "httpx/_transports/default.py", "line": 86,
                 "function": "map_httpcore_exceptions"},
            ]},
            "headers": {"X-Request-Id": "req-" + "0123456789abcdef" * 4},
        },
        "similar": [
            {"problem": problem, "title": LONG_TITLE, "score": 0.913},
            {"problem": problem, "title": "Import worker <*> out of memory", "score": 0.71},
        ],
        "corroborating_problems": [problem],
        "corroboration": [{"problem": problem, "message": "Anomaly on bookmarks.import.latency_ms",
                           "confidence": 0.42, "event": "01JE0", "type": "anomaly.detected",
                           "raised_to": 0.93}],
    }  # fmt: skip


def _remediation_rows(service: str, diagnosis: Diagnosis) -> None:
    """A rule, a run waiting for approval, its audit entry, an incident, an anomaly and an
    injected fault, all with the long names production gives them."""
    from knowledge.services import open_incident
    from remediation.audit import record
    from remediation.models import (
        Approval,
        RemediationRun,
        RemediationSettings,
        Rule,
        RunAttempt,
        RunTransition,
    )
    from simulator.models import FaultInjection

    now = timezone.now()
    rule = Rule.objects.create(
        name="restart-import-worker-when-remote-feed-times-out", service=service,
        signal=diagnosis.signal, action="restart_service", exception_type="httpx.ReadTimeout",
    )  # fmt: skip
    run = RemediationRun.objects.create(
        rule=rule, diagnosis=diagnosis, service=service, instance="web-1",
        signal=diagnosis.signal, action="restart_service", risk="high", confidence=0.87,
        threshold=0.8, status="awaiting_approval", preview=f"would restart {service}/web-1",
        parameters={"rolling": True, "only_unhealthy": False},
        blast_radius={"service": service, "instances": [f"{service}-7f9c6d5b8-x2k4q", "web-2"],
                      "rolling": True, "restart": True},
        evidence={"root_cause": LONG_TITLE, **diagnosis.evidence},
        result={"status": 202, "body": {"restarted": [f"{service}-7f9c6d5b8-x2k4q"],
                                        "took_ms": 1830.5, "queued": []}},
    )  # fmt: skip
    record("run.created", run=run, rule=rule, actor="diagnostic-agent", reason=LONG_TITLE,
           result=run.result, expires_at=str(now + timedelta(minutes=30)))  # fmt: skip
    # What the run's page lists inline: its moves, a person's decision and an attempt.
    RunTransition.objects.create(
        run=run, from_status="proposed", to_status="awaiting_approval",
        actor_label="remediation-engine", reason=f"risk high: {LONG_TITLE}",
    )  # fmt: skip
    approver = get_user_model().objects.get(username="ada")
    Approval.objects.create(run=run, user=approver, decision="reject", reason=LONG_TITLE)
    RunAttempt.objects.create(
        run=run, number=1, worker="celery@bookmarks-import-worker-eu-west-1-0:consumer-0",
        outcome="failed", finished_at=now,
        detail=f"POST https://control.bookmarks.internal/restart returned 503: {LONG_TITLE}",
    )  # fmt: skip
    RemediationSettings.load()
    open_incident(diagnosis)
    Anomaly.objects.create(
        series="bookmarks.import.remote_feed.latency_ms.p99{endpoint=/api/import/netscape}",
        detector="burst", category="latency", severity="critical", score=12.5, value=30125.0,
        window_start=now - timedelta(minutes=1), window_end=now, problem=diagnosis.problem,
        evidence={"points": [{"minute": (now - timedelta(minutes=m)).isoformat(), "value": 812.5}
                             for m in range(12)], "service": service},
    )  # fmt: skip
    table = [
        {"batch_size": size, "ok": 40, "failed": 1, "bookmarks_per_second": 812.5,
         "success_lower_bound": 0.93} for size in (100, 250, 500, 1000)
    ]  # fmt: skip
    Recommendation.objects.update_or_create(
        key="import.batch_size",
        defaults={"value": 250, "confidence": 0.93,
                  "evidence": {"rule": "fastest with success lower bound >= 0.9", "table": table}},
    )  # fmt: skip
    FaultInjection.objects.create(
        scenario="import-remote-feed-timeout", title=LONG_TITLE, root_cause="upstream_timeout",
        service=service, correct_remediation="restart_service",
    )  # fmt: skip


def _admin_pages() -> list[tuple[str, str]]:
    """(name, url) of every registered changelist and of the change form of its first row."""
    pages = []
    for model in admin.site._registry:
        meta = model._meta
        if meta.app_label in {"auth"}:
            continue
        base = f"/admin/{meta.app_label}/{meta.model_name}/"
        pages.append((f"{meta.app_label}-{meta.model_name}-list", base))
        first = model.objects.order_by("-pk").first()
        if first is not None:
            name = f"{meta.app_label}-{meta.model_name}-change"
            pages.append((name, f"{base}{first.pk}/change/"))
    return pages + _dashboard_pages()


def _dashboard_pages() -> list[tuple[str, str]]:
    """The operator's own pages, on the same long rows."""
    from knowledge.models import Incident
    from remediation.models import RemediationRun

    problem = Problem.objects.get(fingerprint__startswith="layout:long-0:")
    return [
        ("dashboard-overview", "/"),
        ("dashboard-problem", f"/problems/{problem.pk}/"),
        ("dashboard-incident", f"/incidents/{Incident.objects.latest('pk').pk}/"),
        ("dashboard-run", f"/runs/{RemediationRun.objects.latest('pk').pk}/"),
        ("dashboard-agent", "/agents/bookmark-monitor/"),
        ("dashboard-events", "/events/"),
        ("dashboard-services", "/services/"),
    ]


def test_no_column_overflows_at_1280_px_nor_on_a_phone(browser_page, django_user_model):
    django_user_model.objects.create_superuser("ada", "ada@example.com", PASSWORD)
    _realistic_rows()
    page = browser_page
    shots = SCREENSHOTS / "admin"
    shots.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = _start_server(port)
    try:
        page.goto(base + "/admin/login/")
        page.fill("#id_username", "ada")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        problems: dict[str, list[str]] = {}
        for name, url in _admin_pages():
            # Everything is read on a phone too (390 px): the operator's pages turn rows into
            # cards there; the admin's tables scroll inside their box (PHONE_OVERFLOWS).
            for width in (1440, 1280, 390):
                page.set_viewport_size({"width": width, "height": 900})
                response = page.goto(base + url)
                assert response is not None and response.status == 200, url
                page.evaluate(OPEN_DETAILS)
                page.screenshot(path=str(shots / f"{name}-{width}.png"), full_page=True)
                if width == 1440:
                    continue
                phone_admin = width == 390 and not name.startswith("dashboard-")
                found = page.evaluate(PHONE_OVERFLOWS if phone_admin else OVERFLOWS)
                found += _raw_text(page, name)
                if found:
                    problems[f"{url} at {width} px"] = found
        assert problems == {}, json.dumps(problems, indent=1)
        # Pending approvals are what a person must act on: the whole width, not a third of it
        # beside two empty columns with every title wrapped.
        page.set_viewport_size({"width": 1280, "height": 900})
        page.goto(base + "/")
        widths = page.evaluate(PANEL_WIDTHS, ["panel-approvals", "panel-incidents"])
        assert widths[0] == widths[1], widths
    finally:
        _stop(server)
