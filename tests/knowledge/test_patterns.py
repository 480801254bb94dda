"""Pattern versions are append-only; a rollback is a new version equal to the old one."""

from __future__ import annotations

import pytest

from knowledge import services
from knowledge.models import Pattern, PatternKind, PatternVersion

pytestmark = pytest.mark.django_db


def test_rollback_restores_content_as_a_new_version(admin_user, import_problem, duplicate_problem):
    pattern = Pattern.objects.create(
        name="large imports", kind=PatternKind.RECURRING, matcher={"signal": "import_timeout"}
    )
    pattern.problems.add(import_problem)
    v1 = services.save_pattern_version(pattern, admin_user, "created")
    pattern.matcher = {"signal": "import_failed"}
    pattern.confidence = 0.9
    pattern.save()
    pattern.problems.add(duplicate_problem)
    services.save_pattern_version(pattern, admin_user, "widened")

    v3 = services.rollback_pattern(pattern, 1, admin_user)

    pattern.refresh_from_db()
    assert (v1.version, v3.version, pattern.version) == (1, 3, 3)
    assert pattern.matcher == {"signal": "import_timeout"} and pattern.confidence == 0.5
    assert list(pattern.problems.all()) == [import_problem]
    assert v3.snapshot == v1.snapshot
    assert v3.reason == "rollback to v1" and v3.created_by == admin_user
    history = list(PatternVersion.objects.filter(pattern=pattern).values_list("version", flat=True))
    assert history == [3, 2, 1]
    assert PatternVersion.objects.get(pattern=pattern, version=2).snapshot["confidence"] == 0.9


def test_flags_and_match_judgements(admin_user):
    pattern = Pattern.objects.create(name="p", kind=PatternKind.TEMPORAL)
    assert services.set_pattern_flags([pattern], user=admin_user, validated=True) == 1
    assert services.set_pattern_flags([pattern], user=admin_user, validated=True) == 0
    services.record_pattern_match(pattern, confirmed=True)
    services.record_pattern_match(pattern, confirmed=False)
    pattern.refresh_from_db()
    assert pattern.validated and pattern.version == 1
    assert pattern.accuracy == 0.5
