"""``manage.py nab_predict``: one score CSV per NAB data file, same layout, online scores."""

from __future__ import annotations

import csv
import math
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from agents.monitor.cad import BASE_THRESHOLD

ROWS = 400


def write_series(path: Path, *, spike_at: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    start = datetime(2014, 4, 1)  # noqa: DTZ001 (NAB timestamps are naive)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp", "value"])
        for i in range(ROWS):
            value = 50 + 10 * math.sin(i / 20) + (300 if i == spike_at else 0)
            writer.writerow([(start + timedelta(minutes=5 * i)).isoformat(sep=" "), value])


def read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("workers", [1, 2])
def test_it_writes_one_score_file_per_data_file_with_the_nab_columns(tmp_path, workers):
    data, out = tmp_path / "data", tmp_path / "out"
    write_series(data / "artificialWithAnomaly" / "spike.csv", spike_at=300)
    write_series(data / "artificialNoAnomaly" / "flat.csv")
    for extra in range(3):
        write_series(data / "realTraffic" / f"t{extra}.csv")

    call_command("nab_predict", data=str(data), out=str(out), workers=workers, no_progress=True)

    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.csv"))
    assert written == sorted(p.relative_to(data).as_posix() for p in data.rglob("*.csv"))
    spike = read(out / "artificialWithAnomaly" / "spike.csv")
    assert list(spike[0]) == ["timestamp", "anomaly_score"]
    assert len(spike) == ROWS
    assert spike[0]["timestamp"] == "2014-04-01 00:00:00"
    scores = [float(row["anomaly_score"]) for row in spike]
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert max(range(ROWS), key=scores.__getitem__) == 300  # the spike scores highest


def test_it_refuses_a_missing_data_folder(tmp_path):
    with pytest.raises(CommandError, match="no such data folder"):
        call_command("nab_predict", data=str(tmp_path / "nope"), out=str(tmp_path / "out"))


@pytest.mark.parametrize("detector", ["cad", "cad-lookahead"])
def test_cad_scores_are_written_and_flag_the_spike(tmp_path, detector):
    data, out = tmp_path / "data", tmp_path / "out"
    write_series(data / "artificialWithAnomaly" / "spike.csv", spike_at=300)

    call_command("nab_predict", data=str(data), out=str(out), detector=detector, no_progress=True)

    scores = [
        float(row["anomaly_score"]) for row in read(out / "artificialWithAnomaly" / "spike.csv")
    ]
    assert len(scores) == ROWS and all(0.0 <= s <= 1.0 for s in scores)
    assert scores[300] >= BASE_THRESHOLD
