"""``manage.py loghub_predict`` on a small Loghub-format folder made here."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

EVENTS = [
    "Receiving block blk_{n} src: /10.250.{a}.{b}:50010 dest: /10.250.{b}.{a}:50010",
    "PacketResponder {a} for block blk_{n} terminating",
    "Deleting block blk_{n} file /mnt/hadoop/dfs/data/current/subdir{a}/blk_{n}",
]


def make_system(root: Path, name: str, lines: int) -> list[int]:
    """Write ``<name>/<name>_2k.log`` in an HDFS-like layout; returns each line's event."""
    folder = root / name
    folder.mkdir(parents=True)
    events = []
    with (folder / f"{name}_2k.log").open("w") as handle:
        for i in range(lines):
            event = (i * 7) % len(EVENTS)
            events.append(event)
            message = EVENTS[event].format(n=1000 + i * 37, a=i % 250, b=(i * 3) % 250)
            handle.write(f"0811{i % 28:02d} 2036{i % 60:02d} {i % 999} INFO dfs.Node: {message}\n")
    return events


def test_it_writes_one_csv_per_system_with_the_scorer_columns(tmp_path: Path):
    truth = make_system(tmp_path / "data", "Mini", 300)
    make_system(tmp_path / "data", "Other", 50)
    (tmp_path / "data" / "notes").mkdir()  # a folder without a log is skipped
    call_command("loghub_predict", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "out"))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["Mini.csv", "Other.csv"]
    with (tmp_path / "out" / "Mini.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["LineId", "ClusterId", "EventTemplate"]
    assert [int(r["LineId"]) for r in rows] == list(range(1, 301))
    # Lines of one event share a group and different events do not.
    groups = {(event, r["ClusterId"]) for event, r in zip(truth, rows, strict=True)}
    assert len(groups) == len(EVENTS) == len({cluster for _, cluster in groups})
    assert "blk_<*>" in rows[0]["EventTemplate"]


def test_it_refuses_a_folder_without_logs(tmp_path: Path):
    with pytest.raises(CommandError, match="no <System>"):
        call_command("loghub_predict", "--data", str(tmp_path), "--out", str(tmp_path / "o"))
