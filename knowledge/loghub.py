"""Run the template miner over a Loghub-format folder and write per-system predictions.

The output is what ``/work/shared/eval/loghub_ga.py`` scores: one ``<System>.csv`` per
``<System>/<System>_2k.log`` with columns ``LineId,ClusterId,EventTemplate``. Each system gets
a fresh ``TemplateMiner`` fed the raw lines (headers included) in file order, as a deployment
would see them; the header layout is learned from the first ``LEARN_LINES`` lines of the file
before mining starts (the only look-ahead, and it concerns the header shape, not clusters).
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from itertools import islice
from pathlib import Path

from knowledge.logparse import LEARN_LINES, HeaderModel, TemplateMiner

LOG_SUFFIX = "_2k.log"


def read_lines(path: Path) -> list[str]:
    """Read a log file as text lines without their line terminators (bad bytes replaced)."""
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        return [line.rstrip("\r\n") for line in handle]


def find_systems(data_dir: Path) -> list[tuple[str, Path]]:
    """``(system, log path)`` for every ``<S>/<S>_2k.log`` under ``data_dir`` (or its
    ``loghub_2k``), sorted by name."""
    data_dir = Path(data_dir)
    if not any(data_dir.glob(f"*/*{LOG_SUFFIX}")) and (data_dir / "loghub_2k").is_dir():
        data_dir = data_dir / "loghub_2k"
    found = []
    for system_dir in sorted(p for p in data_dir.iterdir() if p.is_dir()):
        log_path = system_dir / f"{system_dir.name}{LOG_SUFFIX}"
        if log_path.is_file():
            found.append((system_dir.name, log_path))
    return found


def predict_system(log_path: Path, out_csv: Path) -> int:
    """Mine one log file into ``out_csv`` (``LineId,ClusterId,EventTemplate``); line count."""
    lines = read_lines(Path(log_path))
    header_model = HeaderModel().fit(islice(lines, LEARN_LINES))
    miner = TemplateMiner(header_model=header_model)
    mined = [miner.add(line) for line in lines]
    final_ids = miner.final_cluster_ids(mined)
    with Path(out_csv).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["LineId", "ClusterId", "EventTemplate"])
        for line_id, (result, cluster_id) in enumerate(zip(mined, final_ids, strict=True), start=1):
            writer.writerow([line_id, cluster_id, result.template])
    return len(lines)


def predict_folder(
    data_dir: Path,
    out_dir: Path,
    on_system: Callable[[str, int], None] | None = None,
) -> dict[str, int]:
    """Mine every ``<S>/<S>_2k.log`` under ``data_dir`` (or its ``loghub_2k``) into ``out_dir``.

    Returns the number of lines written per system; ``on_system(system, lines)`` is called
    after each one (progress reporting).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for system, log_path in find_systems(Path(data_dir)):
        counts[system] = predict_system(log_path, out_dir / f"{system}.csv")
        if on_system is not None:
            on_system(system, counts[system])
    return counts
