"""The incident pages in headless Chromium against a real uvicorn, at 1280, 1440 and 1920 px:
nothing overflows its panel or table, no template tokens or raw dicts in visible text, the
timeline updates live, a superseded prompt says so, and on-call resolves by hand.
Screenshots go to var/screenshots/ (incident-*.png, overview-*.png)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from knowledge import services
from knowledge.models import Diagnosis, IncidentState, Problem
from remediation import engine
from remediation.models import RemediationRun, RunStatus
from tests.dashboard.conftest import SCREENSHOTS
from tests.dashboard.test_admin_layout import OPEN_DETAILS, RAW_TEXT
from tests.dashboard.test_browser import (
    _free_port,
    _log_in,
    _push,
    _start_server,
    _stop,
)
from tests.remediation.conftest import make_rule

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
WIDTHS = (1280, 1440, 1920)
LONG = (
    "HTMLParseError: HTMLParseError: unbalanced <*> tag in Netscape bookmark export <*> at "
    "line <*> column <*> while importing for user <*> from extension <*> version <*>"
)
# What a service really sent (a template's <*> filled in, and markup to be escaped).
RAW_MESSAGE = "HTMLParseError: unbalanced </DL> tag in Netscape bookmark export at line 4120"
OVERFLOWING = """() => [...document.querySelectorAll("main table, main .panel")]
    .filter(el => el.scrollWidth > el.clientWidth + 1)
    .map(el => (el.id || el.tagName) + ": " + el.scrollWidth + " > " + el.clientWidth)"""


def diagnosis(problem: Problem, signal: str, n: int, message: str) -> Diagnosis:
    return Diagnosis.objects.create(
        problem=problem, service="bookmarks", instance="web-1", trigger_event_id=f"b-{n}",
        trigger_type="log.line", root_cause=problem.title, signal=signal, confidence=0.87,
        evidence={"message": message, "affected_users": 12, "instances": {"web-1": 40},
                  "trigger": {"level": "ERROR", "message": RAW_MESSAGE, "extra": {"user": 7}}},
        hypotheses=[{"cause": problem.title, "kind": "known-problem", "score": 1.8,
                     "signal": signal, "problem": problem.pk,
                     "evidence": [{"kind": "similar-problem", "problem": problem.pk,
                                   "similarity": 0.91}]}],
    )  # fmt: skip


def assert_readable(page, name: str) -> None:
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 1000})
        page.wait_for_timeout(150)
        page.evaluate(OPEN_DETAILS)
        assert page.evaluate(OVERFLOWING) == [], f"{name} at {width}px"
        text = page.inner_text("body")
        assert "<*>" not in text, f"{name} at {width}px"
        assert [raw for raw in RAW_TEXT if raw in text] == [], f"{name} at {width}px"
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)


def test_incident_pages_are_readable_live_and_resolvable(
    browser_page,
    operator_login,
    control,
):
    from playwright.sync_api import expect

    operator_login.user_permissions.add(Permission.objects.get(codename="approve_run"))
    learned = Problem.objects.create(
        fingerprint="tpl:html", title=LONG, signal="import_parse_error"
    )
    make_rule(action="clear_cache", requires_approval=True, signal="import_parse_error")
    first = diagnosis(learned, "import_parse_error", 1, LONG)
    services.open_incident(first)
    [older] = engine.propose_for_diagnosis(first.pk)
    incident = services.incident_for(first)
    page, port = browser_page, _free_port()
    server = _start_server(port)
    try:
        _log_in(page, f"http://127.0.0.1:{port}")
        expect(page.locator("#panel-incidents")).to_contain_text("HTMLParseError: unbalanced")
        assert_readable(page, "overview")

        page.goto(f"http://127.0.0.1:{port}/incidents/{incident.pk}/")
        expect(page.locator("#live-state")).to_have_text("live", timeout=10_000)
        expect(page.locator(f"#prompt-{older.pk}")).to_contain_text("Approve “Clear cache”?")
        assert "<*>" not in page.title()
        page.evaluate("window.__noReload = true")

        # Live: a new timeline row appears without a reload.
        services.add_note(incident, "Paged the import team", operator_login)
        _push([f"incident:{incident.pk}"])
        expect(page.locator("#incident-timeline")).to_contain_text("Paged the import team")

        # The fault comes back as a new incident: the older prompt is superseded, and says so.
        second = diagnosis(learned, "import_parse_error", 2, LONG)
        [newer] = engine.propose_for_diagnosis(second.pk)
        _push([f"incident:{incident.pk}", "approvals", "runs", "incidents"])
        expect(page.locator(f"#prompt-{older.pk}")).to_have_count(0, timeout=5_000)
        row = page.locator(f"#incident-run-{older.pk}")
        expect(row).to_contain_text("Superseded")
        expect(row).to_contain_text(f"a newer identical proposal (run {newer.pk}")
        expect(page.locator("#incident-state")).to_have_text("Resolved")
        assert page.evaluate("window.__noReload") is True
        assert_readable(page, "incident-superseded")

        # Resolve by hand, with a note, on the newer incident.
        newest = services.incident_for(second)
        page.goto(f"http://127.0.0.1:{port}/incidents/{newest.pk}/")
        page.fill("#resolve-note", "switched the import to the lenient parser by hand")
        page.click("#resolve")
        expect(page.locator("#incident-state")).to_have_text("Resolved")
        expect(page.locator("#incident-timeline")).to_contain_text(
            "switched the import to the lenient parser by hand"
        )
        expect(page.locator("#incident-timeline")).to_contain_text("by otto")
        assert_readable(page, "incident-resolved")
        newer.refresh_from_db()
        assert newer.status == RunStatus.SUPERSEDED
        assert newest.__class__.objects.get(pk=newest.pk).state == IncidentState.RESOLVED
        assert RemediationRun.objects.filter(status=RunStatus.AWAITING_APPROVAL).count() == 0

        page.goto(f"http://127.0.0.1:{port}/")
        assert_readable(page, "overview-after")
    finally:
        _stop(server)
