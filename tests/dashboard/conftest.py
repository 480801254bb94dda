"""The dashboard's cast: a viewer, an operator and an admin in their role groups, and a few
rows for the panels to show. ``control`` (the managed service's control API, registered as
``bookmarks``) is shared with the remediation tests (``tests/control_api.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.utils import timezone

from agents.models import Agent, AgentStatus, Service, ServiceInstance
from dashboard.roles import ADMIN, APPROVE_APP, APPROVE_CODENAME, OPERATOR, VIEWER, ensure_groups
from knowledge.models import Problem, Severity
from tests.control_api import control  # noqa: F401  (re-exported fixture)


def _member(django_user_model, username: str, group: str):
    user = django_user_model.objects.create_user(username, f"{username}@example.com", "pw-12345!")
    user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def viewer_user(db, django_user_model):
    return _member(django_user_model, "vera", VIEWER)


@pytest.fixture
def operator_user(db, django_user_model):
    return _member(django_user_model, "otto", OPERATOR)


@pytest.fixture
def admin_member(db, django_user_model):
    return _member(django_user_model, "adele", ADMIN)


@pytest.fixture
def approve_permission(db) -> Permission:
    """The permission remediation will define, made here so role tests need not wait for it."""
    existing = Permission.objects.filter(
        content_type__app_label=APPROVE_APP, codename=APPROVE_CODENAME
    ).first()
    if existing is not None:
        return existing
    content_type, _ = ContentType.objects.get_or_create(app_label=APPROVE_APP, model="run")
    permission, _ = Permission.objects.get_or_create(
        codename=APPROVE_CODENAME, content_type=content_type, defaults={"name": "Can approve"}
    )
    return permission


@pytest.fixture
def monitor_agent(db) -> Agent:
    return Agent.objects.create(
        name="monitor",
        kind="monitor",
        version="1",
        status=AgentStatus.RUNNING,
        last_heartbeat=timezone.now(),
        events_processed=1234,
        current_activity="handling 100 events",
    )


@pytest.fixture
def open_problem(db) -> Problem:
    return Problem.objects.create(
        fingerprint="test:import-timeout",
        title="Import timed out after 300s",
        severity=Severity.CRITICAL,
        occurrence_count=42,
    )


@pytest.fixture
def bookmarks_service(db) -> Service:
    service = Service.objects.create(name="bookmarks")
    ServiceInstance.objects.create(
        service=service, instance_id="web-1", last_heartbeat_at=timezone.now()
    )
    return service


@pytest.fixture
def pending_run(make_pending_run):
    return make_pending_run()


@pytest.fixture
def make_pending_run(db, open_problem):
    """Makes a run awaiting approval with remediation's own models (rows only, no engine)."""
    return lambda: _pending_run(open_problem)


def _pending_run(open_problem):
    from django.apps import apps

    diagnosis_model = apps.get_model("knowledge", "Diagnosis")
    rule_model = apps.get_model("remediation", "Rule")
    run_model = apps.get_model("remediation", "RemediationRun")
    diagnosis = diagnosis_model.objects.create(
        problem=open_problem, trigger_event_id="e-pending", trigger_type="import.failed",
        root_cause="Upstream timeout", confidence=0.9, signal="import_timeout",
    )  # fmt: skip
    rule = rule_model.objects.create(
        name="restart-on-timeout", signal="import_timeout", action="restart_service"
    )
    return run_model.objects.create(
        rule=rule, diagnosis=diagnosis, service="bookmarks", instance="web-1",
        signal="import_timeout", action="restart_service", risk="high", confidence=0.9,
        threshold=0.8, status="awaiting_approval", preview="would restart bookmarks/web-1",
        blast_radius={"instances": 1}, evidence={"root_cause": "Upstream timeout"},
    )  # fmt: skip


@pytest.fixture
def open_incident(open_problem):
    """The open problem, diagnosed on bookmarks: an incident as the diagnostic agent opens it."""
    from knowledge import services
    from knowledge.models import Diagnosis

    diagnosis = Diagnosis.objects.create(
        problem=open_problem, service="bookmarks", instance="web-1", trigger_event_id="t-inc",
        trigger_type="import.failed", root_cause="Import timed out after 300s", signal="",
        confidence=0.9, evidence={"message": "Import timed out after <*>", "affected_users": 3},
    )  # fmt: skip
    return services.open_incident(diagnosis)


# --- Browser tests (Chromium, see test_browser.py) --------------------------------------------

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PASSWORD = "pw-otto-e2e-123"


@pytest.fixture
def operator_login(db, django_user_model):
    ensure_groups()
    user = django_user_model.objects.create_user("otto", "otto@example.com", PASSWORD)
    user.groups.add(Group.objects.get(name=OPERATOR))
    return user


@pytest.fixture
def browser_page(monkeypatch) -> Iterator:
    # A missing browser is a broken environment, not a reason to pass: .ci/run installs it.
    assert Path(CHROMIUM).exists(), "chromium is not installed: apt-get install chromium"
    # Playwright's sync API keeps an event loop on this thread; the test's own ORM calls
    # are still plain synchronous code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        yield page
        # ORM calls made while Playwright's loop ran used a connection of that context.
        connection.close()
        browser.close()
