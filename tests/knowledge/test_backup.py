"""Export → import moves the graph between installations by natural keys."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command

from knowledge import backup, services
from knowledge.models import Edge, Occurrence, Pattern, PatternVersion, Problem, Relation, Solution

from .conftest import IMPORT_TIMEOUT, T0

pytestmark = pytest.mark.django_db


def comparable(data: dict) -> dict:
    return {k: v for k, v in data.items() if k != "exported_at"}


@pytest.fixture
def graph(admin_user):
    call_command("seed_knowledge", "--no-progress")
    sighted = services.record_sighting(
        IMPORT_TIMEOUT, service="import-worker", at=T0, event_ids=["a"]
    )
    services.record_sighting(IMPORT_TIMEOUT, service="import-worker", at=T0 + timedelta(minutes=3))
    seeded = Problem.objects.get(signal="import_timeout")
    services.merge_problems(seeded, [sighted])
    services.record_solution_outcome(seeded.solutions.first(), True)
    generic, _ = services.add_solution(None, "Page the on-call")
    services.link(seeded, Relation.SOLVED_BY, generic, weight=0.5)
    pattern = Pattern.objects.first()
    pattern.confidence = 0.99
    pattern.save()
    services.save_pattern_version(pattern, admin_user, "tuned")


def wipe() -> None:
    for model in (Edge, PatternVersion, Pattern, Occurrence, Solution):
        model.objects.all().delete()
    Problem.objects.update(merged_into=None)
    Problem.objects.all().delete()


def test_round_trip_into_an_empty_database_and_twice(graph, tmp_path):
    original = backup.export_knowledge()
    vectors = dict(Problem.objects.values_list("fingerprint", "embedding"))
    path = tmp_path / "knowledge.json"
    call_command("export_knowledge", "--out", str(path), "--no-progress")
    assert json.loads(path.read_text())["format"] == "aiops-knowledge"

    wipe()
    assert not Problem.objects.exists() and not Edge.objects.exists()
    call_command("import_knowledge", str(path), "--no-progress")
    assert comparable(backup.export_knowledge()) == comparable(original)
    for fingerprint, vector in Problem.objects.values_list("fingerprint", "embedding"):
        if vectors[fingerprint] is not None:
            assert list(vector) == pytest.approx(list(vectors[fingerprint]), abs=1e-6)

    before = {
        m: list(m.objects.order_by("pk").values())
        for m in (Problem, Solution, Edge, Pattern, PatternVersion, Occurrence)
    }
    stats = backup.import_knowledge(json.loads(path.read_text()))
    assert set(stats.values()) == {0}
    after = {m: list(m.objects.order_by("pk").values()) for m in before}
    for model in before:
        strip = lambda rows: [{k: v for k, v in r.items() if k != "updated_at"} for r in rows]  # noqa: E731
        assert strip(after[model]) == strip(before[model]), model


def test_it_refuses_unknown_formats_and_versions(tmp_path):
    with pytest.raises(backup.BackupFormatError, match="not an AI-Ops knowledge export"):
        backup.import_knowledge({"format": "something-else", "version": 1})
    bad = tmp_path / "v2.json"
    bad.write_text(json.dumps({"format": "aiops-knowledge", "version": 2}))
    with pytest.raises(CommandError, match="unsupported knowledge export version 2"):
        call_command("import_knowledge", str(bad), "--no-progress")


def test_selection_export_keeps_only_what_touches_it(graph):
    seeded = Problem.objects.get(signal="import_timeout")
    data = backup.export_knowledge([seeded])
    assert [p["fingerprint"] for p in data["problems"]] == [seeded.fingerprint]
    assert {s["problem"] for s in data["solutions"]} == {seeded.fingerprint}
    assert all(
        e["source"]["key"] == seeded.fingerprint or e["target"]["key"] == seeded.fingerprint
        for e in data["edges"]
    )
