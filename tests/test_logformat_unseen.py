"""The unseen generated formats (``benchmarks.logformat_unseen``): seeded and labelled right.

No miner here: only that the generator is deterministic and that its ground truth is a
labelling by event (one template per label, one label per template), in the Loghub layout.
"""

from __future__ import annotations

import csv
from collections import defaultdict

import pytest

from benchmarks import logformats
from benchmarks.logformat_unseen import UNSEEN

NAMES = list(UNSEEN)


def test_the_set_is_new_and_sized_as_asked():
    assert 8 <= len(UNSEEN) <= 10
    assert not set(UNSEEN) & (set(logformats.FORMATS) | set(logformats.HOLDOUT))
    for _, events in UNSEEN.values():
        assert 10 <= len(events) <= 20
        assert len({template for _, _, template in events}) == len(events)


@pytest.mark.parametrize("name", NAMES)
def test_the_generator_is_deterministic(name: str):
    assert logformats.generate(name, lines=300) == logformats.generate(name, lines=300)
    assert logformats.generate(name, lines=300, seed=1) != logformats.generate(name, lines=300)


@pytest.mark.parametrize("name", NAMES)
def test_one_label_per_template_and_one_template_per_label(name: str, tmp_path):
    logformats.write_corpus(tmp_path, lines=600, names=[name])
    folder = tmp_path / "loghub_2k" / name
    raw = (folder / f"{name}_2k.log").read_text(encoding="utf-8").splitlines()
    with (folder / f"{name}_2k.log_structured.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(raw) == len(rows) == 600
    by_label: dict[str, set[str]] = defaultdict(set)
    by_template: dict[str, set[str]] = defaultdict(set)
    for line, row in zip(raw, rows, strict=True):
        by_label[row["EventId"]].add(row["EventTemplate"])
        by_template[row["EventTemplate"]].add(row["EventId"])
        assert "\n" not in line and row["Content"] and "{" + "num}" not in row["Content"]
    assert all(len(t) == 1 for t in by_label.values())
    assert all(len(labels) == 1 for labels in by_template.values())
