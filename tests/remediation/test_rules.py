"""Rules: what they match (signal, fingerprint, category, pattern, scope), the approval
window from settings, and operators' edits taking effect and being audited."""

from __future__ import annotations

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from knowledge.models import Pattern
from remediation import engine
from remediation.models import AuditEntry, Rule
from tests.remediation.conftest import make_diagnosis, make_rule

pytestmark = pytest.mark.django_db(transaction=True)

FACTS = {"signal": "import_timeout", "fingerprint": "fp-1", "category": "import",
         "service": "bookmarks", "instance": "web-1"}  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "matches"),
    [
        ({"signal": "import_timeout"}, True),
        ({"signal": "disk_full"}, False),
        ({"problem_fingerprint": "fp-1"}, True),
        ({"category": "import", "signal": "import_timeout"}, True),
        ({"category": "capacity", "signal": "import_timeout"}, False),
        ({"signal": "import_timeout", "service": "search"}, False),
        ({"signal": "import_timeout", "instances": ["web-2"]}, False),
        ({"signal": "import_timeout", "instances": ["web-1"]}, True),
        ({}, False),  # a rule without criteria matches nothing
    ],
)
def test_a_rule_matches_when_every_criterion_it_sets_holds(fields, matches):
    assert Rule(**fields).matches(**FACTS) is matches


def test_a_rule_can_match_through_a_knowledge_pattern(control):
    Pattern.objects.create(name="slow-imports", kind="recurring",
                           matcher={"signal": "import_timeout"})  # fmt: skip
    make_rule(signal="", pattern_name="slow-imports", action="clear_cache")

    [run] = engine.propose_for_diagnosis(make_diagnosis("import_timeout").pk)

    assert run.action == "clear_cache"
    assert engine.propose_for_diagnosis(make_diagnosis("disk_full").pk) == []


@override_settings(REMEDIATION_APPROVAL_TTL_SECONDS=60)
def test_the_approval_window_comes_from_settings(control):
    make_rule(action="clear_cache", requires_approval=True)

    [run] = engine.propose_for_diagnosis(make_diagnosis().pk)

    run.refresh_from_db()
    assert 55 <= (run.expires_at - timezone.now()).total_seconds() <= 60


def test_an_operator_threshold_edit_takes_effect_and_is_audited(admin_client):
    rule = make_rule(action="clear_cache")
    Rule.objects.filter(pk=rule.pk).update(effective_threshold=0.9)
    form = {
        "name": rule.name, "enabled": "on", "signal": rule.signal, "action": "clear_cache",
        "parameters": "{}", "confidence_threshold": 0.7, "threshold_min": 0.5,
        "threshold_max": 0.99, "threshold_step": 0.02, "risk": "low", "max_runs": 3,
        "window_seconds": 3600, "cooldown_seconds": 0, "verify_after_seconds": 60,
        "instances": "[]", "problem_fingerprint": "", "category": "", "pattern_name": "",
        "service": "", "description": "",
    }  # fmt: skip

    response = admin_client.post(reverse("admin:remediation_rule_change", args=[rule.pk]), form)

    assert response.status_code == 302, response.context["adminform"].form.errors
    rule.refresh_from_db()
    assert (rule.confidence_threshold, rule.effective_threshold) == (0.7, 0.7)
    entry = AuditEntry.objects.get(kind="rule.changed")
    assert entry.actor == "ada" and entry.data["confidence_threshold"] == 0.7
