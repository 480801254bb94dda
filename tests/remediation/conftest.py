"""The cast and the stage for remediation tests.

* ``control`` — a real HTTP server in a thread serving the managed service's control API
  (``remediation/actions/control.py``), registered as service ``bookmarks`` in the service
  registry, recording every request; tests flip its health or make operations fail.
  Defined in ``tests/control_api.py`` (shared with the dashboard's browser test).
* ``approver`` / ``second_approver`` hold ``remediation.approve_run``; ``viewer`` does not.
* Celery runs tasks eagerly, so an approval's on-commit enqueue executes in the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from ulid import ULID

from aiops_site.celery import app as celery_app
from knowledge.models import Diagnosis, Problem, Solution
from remediation import safety
from remediation.models import RemediationSettings, Rule
from tests.control_api import ControlState, control  # noqa: F401  (re-exported fixture)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def eager_tasks() -> Iterator[None]:
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager = False


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    safety.forget_settings()
    yield
    safety.forget_settings()


def set_safety(**fields: Any) -> RemediationSettings:
    row = RemediationSettings.load()
    for name, value in fields.items():
        setattr(row, name, value)
    row.save()
    safety.forget_settings()
    return row


def _with_perm(user: Any) -> Any:
    user.user_permissions.add(Permission.objects.get(codename="approve_run"))
    return type(user).objects.get(pk=user.pk)  # fresh: permissions are cached per object


@pytest.fixture
def approver(django_user_model):
    return _with_perm(django_user_model.objects.create_user("alice", password="pw-alice-123"))


@pytest.fixture
def second_approver(django_user_model):
    return _with_perm(django_user_model.objects.create_user("bob", password="pw-bob-123"))


def make_rule(**fields: Any) -> Rule:
    defaults: dict[str, Any] = {
        "name": f"rule-{ULID()}".lower(),
        "signal": "import_timeout",
        "action": "notify",
        "parameters": {},
        "confidence_threshold": 0.8,
        "risk": "low",
        "requires_approval": False,
        "max_runs": 100,
        "cooldown_seconds": 0,
        "verify_after_seconds": 0,
    }
    return Rule.objects.create(**{**defaults, **fields})


def make_diagnosis(
    signal: str = "import_timeout",
    confidence: float = 0.9,
    *,
    service: str = "bookmarks",
    instance: str = "web-1",
    with_solution: str | None = None,
) -> Diagnosis:
    problem, _ = Problem.objects.get_or_create(
        fingerprint=f"fp-{signal}",
        defaults={"title": signal, "signal": signal, "category": "import"},
    )
    suggestions = []
    if with_solution:
        solution, _ = Solution.objects.get_or_create(
            problem=problem, title=with_solution, defaults={"action": with_solution}
        )
        suggestions = [{"solution": solution.pk, "action": with_solution}]
    return Diagnosis.objects.create(
        problem=problem,
        service=service,
        instance=instance,
        trigger_event_id=str(ULID()),
        trigger_type="import.failed",
        root_cause=f"{signal} root cause",
        signal=signal,
        confidence=confidence,
        suggestions=suggestions,
    )
