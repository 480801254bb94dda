"""A problem's page in headless Chromium after its template generalised: the heading and the
window title read the general form, naming no user and showing no template token; the raw
template appears once, as the template. Screenshots: var/screenshots/problem-folded-*.png."""

from __future__ import annotations

import pytest
import redis

from knowledge import services
from knowledge.fingerprint import Fingerprinter
from knowledge.models import Problem
from tests.dashboard.conftest import SCREENSHOTS
from tests.dashboard.test_admin_layout import OVERFLOWS
from tests.dashboard.test_browser import _free_port, _log_in, _start_server, _stop
from tests.support import default_fingerprinter

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

USERS = ["alice", "bob", "carol", "dave", "erin", "frank"]


@pytest.fixture
def shared(clean_redis: redis.Redis, monkeypatch) -> Fingerprinter:
    return default_fingerprinter(clean_redis, monkeypatch, "test:fp:title-page")


def test_the_problem_page_reads_the_general_title_after_the_fold(
    shared: Fingerprinter, browser_page, operator_login
):
    sighted = [
        services.record_sighting(
            f"Accepted publickey for {user} from 10.0.{n}.7 port 22 ssh2", service="sshd"
        )
        for n, user in enumerate(USERS)
    ]
    problem = Problem.objects.get(pk=sighted[0].pk)  # alice's, where the fold landed
    assert sighted[-1].pk == problem.pk
    page, port = browser_page, _free_port()
    server = _start_server(port)
    try:
        _log_in(page, f"http://127.0.0.1:{port}")
        page.goto(f"http://127.0.0.1:{port}/problems/{problem.pk}/")
        for width in (1280, 1440):
            page.set_viewport_size({"width": width, "height": 900})
            heading = page.inner_text("h1")
            assert heading == "Accepted publickey for … from … port … ssh2"
            assert "alice" not in page.title() and "<*>" not in page.title()
            assert "alice" not in page.inner_text("main")
            assert page.locator("text=<*>").count() == 1  # the log template, shown once
            assert page.evaluate(OVERFLOWS) == []
            page.screenshot(path=str(SCREENSHOTS / f"problem-folded-{width}.png"), full_page=True)
    finally:
        _stop(server)
