"""The alarm breakdown (issue 15) on a tiny NAB-format corpus written here: which alarms hit a
labelled window, which are false, which view led them, and hits per fault kind."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agents.nab_diagnosis import diagnose, format_diagnosis

START = datetime(2025, 3, 3, tzinfo=UTC)


def _stamp(i: int) -> str:
    return (START + timedelta(minutes=5 * i)).strftime("%Y-%m-%d %H:%M:%S")


def _write(root: Path, rel: str, values: list[float], windows: list[tuple[int, int]]) -> None:
    path = root / "data" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["timestamp,value"] + [f"{_stamp(i)},{v}" for i, v in enumerate(values)]
    path.write_text("\n".join(lines) + "\n")
    labels_path = root / "labels" / "combined_windows.json"
    labels = json.loads(labels_path.read_text()) if labels_path.exists() else {}
    labels[rel] = [[_stamp(a), _stamp(b)] for a, b in windows]
    labels_path.parent.mkdir(parents=True, exist_ok=True)
    labels_path.write_text(json.dumps(labels))


def test_hits_false_alarms_their_leading_view_and_kinds(tmp_path: Path):
    r = random.Random(3)
    values = [10 + r.gauss(0, 1) for _ in range(2000)]
    values[1200] += 15  # labelled: a hit
    values[1700] += 40  # unlabelled, after the window: a false alarm, far outside the range
    _write(tmp_path, "a/spiky.csv", values, [(1100, 1300)])
    quiet = [10 + r.gauss(0, 1) for _ in range(2000)]
    _write(tmp_path, "a/missed.csv", quiet, [(1500, 1600)])  # nothing happens there
    (tmp_path / "manifest.json").write_text(
        json.dumps({"a/spiky.csv": ["spike@1200"], "a/missed.csv": ["ramp@1550"]})
    )
    d = diagnose(tmp_path)
    assert (d.hits, d.windows, d.false_alarms, d.after_window) == (1, 2, 1, 1)
    assert sum(d.led_by.values()) == 1 and set(d.led_by) <= {"spatial", "naive", "seasonal"}
    assert (d.kind_hits["spike"], d.kind_hits["ramp"], d.kind_windows["ramp"]) == (1, 0, 1)
    text = format_diagnosis(d, "tiny")
    assert "1 false alarms (1 after a labelled window" in text
    assert "ramp 0/1, spike 1/1" in text
