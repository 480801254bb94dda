"""The seeded server-metric corpus (issue 15): NAB's layout, NAB's window rule, reproducible."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from simulator.nab_corpus import KINDS, WINDOW_FRACTION, generate


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("corpus")
    return out, generate(out, per_folder=2)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_it_is_the_same_corpus_for_the_same_seed(corpus, tmp_path: Path):
    out, _ = corpus
    generate(tmp_path, per_folder=2)
    for path in (out / "data").rglob("*.csv"):
        assert (tmp_path / path.relative_to(out)).read_bytes() == path.read_bytes()
    labels = "labels/combined_windows.json"
    assert (tmp_path / labels).read_bytes() == (out / labels).read_bytes()


def test_every_folder_has_a_quiet_file_and_a_faulty_one(corpus):
    _, manifest = corpus
    assert {rel.split("/")[0] for rel in manifest} == set(KINDS)
    assert sum(1 for kinds in manifest.values() if not kinds) == len(KINDS)
    assert all(manifest[f"{folder}/{folder[5:].lower()}_1.csv"] for folder in KINDS)


def test_files_are_five_minute_series_of_two_to_five_thousand_rows(corpus):
    out, manifest = corpus
    for rel in manifest:
        rows = _rows(out / "data" / rel)
        assert 2000 <= len(rows) <= 5000
        first, second = (datetime.fromisoformat(r["timestamp"]) for r in rows[:2])
        assert second - first == timedelta(minutes=5)
        assert all(float(r["value"]) >= 0.0 or "Temperature" in rel for r in rows)


def test_windows_follow_nab_one_per_fault_ten_percent_of_the_file(corpus):
    out, manifest = corpus
    labels = json.loads((out / "labels" / "combined_windows.json").read_text())
    assert set(labels) == set(manifest)
    for rel, windows in labels.items():
        assert len(windows) == len(manifest[rel])
        if not windows:
            continue
        stamps = [datetime.fromisoformat(r["timestamp"]) for r in _rows(out / "data" / rel)]
        spans = [(stamps.index(datetime.fromisoformat(a)), stamps.index(datetime.fromisoformat(b)))
                 for a, b in windows]  # fmt: skip
        covered = sum(b - a for a, b in spans)
        assert covered == pytest.approx(WINDOW_FRACTION * len(stamps), rel=0.05)
        assert all(a0 < b0 < a1 for (a0, b0), (a1, _) in zip(spans, spans[1:], strict=False))
        assert spans[0][0] >= 0.15 * len(stamps)  # after NAB's probation
