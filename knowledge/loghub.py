"""Run the template miner over a Loghub-format folder and write per-system predictions.

The output is what ``/work/shared/eval/loghub_ga.py`` scores: one ``<System>.csv`` per
``<System>/<System>_2k.log`` with columns ``LineId,ClusterId,EventTemplate``. Each system gets
a fresh ``TemplateMiner`` fed the raw lines (headers included) in file order, as a deployment
would see them; the header layout is learned from the first ``LEARN_LINES`` lines of the file
before mining starts (the only look-ahead, and it concerns the header shape, not clusters).
"""

from __future__ import annotations

import csv
from itertools import islice
from pathlib import Path

from knowledge.logparse import LEARN_LINES, HeaderModel, TemplateMiner

LOG_SUFFIX = "_2k.log"


def read_lines(path: Path) -> list[str]:
    """Read a log file as text lines without their line terminators (bad bytes replaced)."""
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        return [line.rstrip("\r\n") for line in handle]


def predict_folder(data_dir: Path, out_dir: Path) -> dict[str, int]:
    """Mine every ``<S>/<S>_2k.log`` under ``data_dir`` (or its ``loghub_2k``) into ``out_dir``.

    Returns the number of lines written per system.
    """
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    if not any(data_dir.glob(f"*/*{LOG_SUFFIX}")) and (data_dir / "loghub_2k").is_dir():
        data_dir = data_dir / "loghub_2k"
    out_dir.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for system_dir in sorted(p for p in data_dir.iterdir() if p.is_dir()):
        system = system_dir.name
        log_path = system_dir / f"{system}{LOG_SUFFIX}"
        if not log_path.is_file():
            continue
        lines = read_lines(log_path)
        header_model = HeaderModel().fit(islice(lines, LEARN_LINES))
        miner = TemplateMiner(header_model=header_model)
        with (out_dir / f"{system}.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["LineId", "ClusterId", "EventTemplate"])
            mined = [miner.add(line) for line in lines]
            final_ids = miner.final_cluster_ids(mined)
            for line_id, (result, cluster_id) in enumerate(
                zip(mined, final_ids, strict=True), start=1
            ):
                writer.writerow([line_id, cluster_id, result.template])
        counts[system] = len(lines)
    return counts
