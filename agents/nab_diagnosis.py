"""Where the monitor's alarms fall on a NAB-format corpus, and which view raised them (issue 15).

A NAB score says *how much* a detector lost, not *why*. This breaks the alarms the live
monitor would have raised (rows at or above ``ALERT_SCORE``) into hits and false alarms, and
for every false alarm names the view with the most evidence (spatial novelty, the naive
forecast's or the seasonal forecast's error likelihood) and whether it came after a labelled
window (a re-alarm on a fault already reported, or on its after-effects). With the corpus's
``manifest.json`` (``simulator.nab_corpus``) it also counts the windows hit per fault kind.

Rows inside NAB's probationary period (the first 15 % of a file, at most 750 rows) are left
out, as the scorer leaves them out.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from .monitor.detector import ALERT_SCORE, StreamingDetector
from .monitor.nab import _parse_timestamp, _value

VIEWS = ("spatial", "naive", "seasonal")


class _Probe(StreamingDetector):
    """The live detector, remembering each row's per-view evidence."""

    last: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def _views(self, x: float, ref: float | None) -> tuple[float, float, float]:
        self.last = super()._views(x, ref)
        return self.last


@dataclass
class Diagnosis:
    """Alarm breakdown of one corpus at the detector's alarm level."""

    false_alarms: int = 0
    after_window: int = 0
    led_by: Counter = field(default_factory=Counter)
    hits: int = 0
    windows: int = 0
    kind_hits: Counter = field(default_factory=Counter)
    kind_windows: Counter = field(default_factory=Counter)
    per_folder: Counter = field(default_factory=Counter)


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.strip().replace("T", " ").split(".")[0])


def _alarms(path: Path) -> tuple[int, list[datetime], list[tuple[int, tuple[float, ...]]]]:
    """(rows, timestamps, [(row, per-view evidence)] of every alarm) for one file."""
    with path.open(newline="") as handle:
        rows = [(r["timestamp"], _value(r["value"])) for r in csv.DictReader(handle)]
    probe, out = _Probe(), []
    for i, (stamp, value) in enumerate(rows):
        probe.last = (0.0, 0.0, 0.0)
        if probe.update(value, _parse_timestamp(stamp)) >= ALERT_SCORE:
            out.append((i, probe.last))
    return len(rows), [_when(t) for t, _ in rows], out


def diagnose(nab_dir: Path) -> Diagnosis:
    """Run a fresh detector over every labelled file of ``nab_dir`` and sort its alarms."""
    nab_dir = Path(nab_dir)
    labels = json.loads((nab_dir / "labels" / "combined_windows.json").read_text())
    manifest_path = nab_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    d = Diagnosis()
    for rel, windows in sorted(labels.items()):
        n, stamps, alarms = _alarms(nab_dir / "data" / rel)
        index = {t: i for i, t in enumerate(stamps)}
        spans = sorted((index[_when(a)], index[_when(b)]) for a, b in windows)
        probation = min(int(0.15 * n), 750)
        hit = [False] * len(spans)
        for row, views in alarms:
            if row < probation:
                continue
            inside = [k for k, (a, b) in enumerate(spans) if a <= row <= b]
            if inside:
                hit[inside[0]] = True
                continue
            d.false_alarms += 1
            d.per_folder[rel.split("/")[0]] += 1
            d.led_by[VIEWS[max(range(3), key=lambda v: views[v])]] += 1
            d.after_window += any(b < row for _, b in spans)
        d.hits += sum(hit)
        d.windows += len(spans)
        # The manifest lists a file's faults in onset order, as its windows are sorted.
        kinds = [k.split("@")[0] for k in manifest.get(rel, [])] if manifest else []
        for kind, was_hit in zip(kinds, hit if kinds else [], strict=True):
            d.kind_windows[kind] += 1
            d.kind_hits[kind] += was_hit
    return d


def format_diagnosis(d: Diagnosis, label: str) -> str:
    """One paragraph for ``make bench``."""
    led = ", ".join(f"{view} {d.led_by[view]}" for view in VIEWS)
    lines = [
        f"Alarms at the alarm level on {label}: {d.false_alarms} false alarms"
        f" ({d.after_window} after a labelled window; led by {led}), {d.hits}/{d.windows}"
        " windows hit",
        "  false alarms per folder: "
        + ", ".join(f"{k} {v}" for k, v in sorted(d.per_folder.items())),
    ]
    if d.kind_windows:
        lines.append(
            "  windows hit per fault kind: "
            + ", ".join(f"{k} {d.kind_hits[k]}/{n}" for k, n in sorted(d.kind_windows.items()))
        )
    return "\n".join(lines)
