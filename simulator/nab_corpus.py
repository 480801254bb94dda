"""A seeded, NAB-format corpus of server-metric-like series: a second, independent test set.

Why it exists (issue 15): the monitor's detector was shaped on the public NAB folders and lost
half its score on held-out ones. This corpus is written *before* any change to the detector
and is never tuned on afterwards, so a change that helps here and in leave-one-folder-out
cross-validation is more than a fit to the public files.

What it holds: metrics an operator runs (CPU %, request counts, latencies, network bytes,
taxi-like demand, temperatures) at 5-minute steps with daily and weekly seasonality, and
noise that is *not* anomalous - heavy-tailed (Pareto / lognormal) spikes and occasional
single outliers. Faults are the kinds on-call engineers meet: a persistent level shift up or
down, a gradual ramp (a leak), a variance burst, a drop to zero or a stuck (flat) value, a
sustained spike of an hour or so, and a missing daily peak. Some files have no fault at all.

Layout is NAB's, so ``../shared/eval/nab_score.py --nab DIR`` scores it unchanged:
``DIR/data/<folder>/<file>.csv`` (``timestamp,value``) and ``DIR/labels/combined_windows.json``
with one window per fault, centred on its onset, the windows of a file together 10 % of its
rows (NAB's rule), clipped to the file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

STEP = timedelta(minutes=5)
ROWS_PER_DAY = 288
#: NAB: the windows of one file cover 10 % of its rows in total.
WINDOW_FRACTION = 0.10
#: Faults start after this fraction of the file (NAB's probation is the first 15 %).
EARLIEST_FAULT = 0.25
DEFAULT_SEED = 20261130
FILES_PER_FOLDER = 5
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
FIRST_DAY = datetime(2025, 3, 3, tzinfo=UTC)  # a Monday; files start within its week


@dataclass
class Fault:
    kind: str
    start: int
    length: int  # rows the fault lasts (persistent faults: to the end of the file)
    size: float  # relative size: fraction of the series' typical level


def _season(n: int, start: datetime, rng: np.random.Generator, twin_peaks: bool) -> np.ndarray:
    """Daily business-hours shape in [0, 1] with a weekend dip (per-file random phase/depth)."""
    t = np.arange(n)
    hours = (start.hour + start.minute / 60.0 + t * 5 / 60.0) % 24.0
    weekday = (start.weekday() + (start.hour * 12 + start.minute // 5 + t) // ROWS_PER_DAY) % 7
    peak = rng.uniform(11.0, 16.0)
    width = rng.uniform(2.5, 4.5)
    daily = np.exp(-0.5 * ((hours - peak) / width) ** 2)
    if twin_peaks:  # commuter demand: a morning and an evening rush
        daily = np.exp(-0.5 * ((hours - 8.5) / 1.5) ** 2) + 0.9 * np.exp(
            -0.5 * ((hours - 18.0) / 2.0) ** 2
        )
    weekend = np.where(weekday >= 5, rng.uniform(0.3, 0.8), 1.0)
    return daily * weekend


def _spikes(n: int, rng: np.random.Generator, rate: float, alpha: float) -> np.ndarray:
    """Benign heavy-tailed spikes: mostly zero, Pareto-sized (>= 0) at random rows."""
    hits = rng.random(n) < rate
    return np.where(hits, rng.pareto(alpha, n), 0.0)


def _apply(faults: list[Fault], level: np.ndarray, noise_scale: np.ndarray, peak_mask: np.ndarray):
    """Change the clean level / noise scale for each fault; return rows forced to a value."""
    forced: dict[int, str] = {}
    typical = float(np.median(level))
    for f in faults:
        end = min(len(level), f.start + f.length)
        if f.kind == "shift":
            level[f.start :] += f.size * typical
        elif f.kind == "ramp":
            ramp = np.minimum(1.0, (np.arange(len(level) - f.start) + 1) / f.length)
            level[f.start :] += f.size * typical * ramp
        elif f.kind == "variance":
            noise_scale[f.start : end] *= 1.0 + f.size
        elif f.kind == "spike":
            level[f.start : end] += f.size * typical
        elif f.kind == "no_peak":
            day = slice(f.start, end)
            level[day] = np.where(peak_mask[day], np.percentile(level, 15), level[day])
        elif f.kind in ("zero", "stuck"):
            for i in range(f.start, end):
                forced[i] = f.kind
    return forced


def _finish(values: np.ndarray, forced: dict[int, str]) -> np.ndarray:
    out = values.copy()
    stuck_at = None
    for i in sorted(forced):
        if forced[i] == "zero":
            out[i] = 0.0
        else:
            stuck_at = out[i - 1] if stuck_at is None or i - 1 not in forced else stuck_at
            out[i] = stuck_at
    return out


# ----------------------------------------------------------------------------- metric kinds
# Each kind: (rng, n, season, faults, peak_mask) -> values. Noise is drawn *after* the fault
# changed the level, as in a real system whose load changed.


def _cpu(rng, n, season, faults, peak_mask):
    base, amp = rng.uniform(10, 35), rng.uniform(10, 35)
    level = base + amp * season
    scale = np.full(n, rng.uniform(1.5, 4.0))
    forced = _apply(faults, level, scale, peak_mask)
    ar = np.zeros(n)
    eps = rng.normal(0.0, 1.0, n)
    for i in range(1, n):
        ar[i] = 0.6 * ar[i - 1] + eps[i]
    spikes = _spikes(n, rng, rng.uniform(0.004, 0.015), rng.uniform(1.3, 2.2)) * scale * 3.0
    values = np.clip(level + scale * ar * 0.8 + spikes, 0.0, 100.0)
    return np.round(_finish(values, forced), 1)


def _requests(rng, n, season, faults, peak_mask):
    level = rng.uniform(20, 400) * (0.25 + season)
    scale = np.full(n, rng.uniform(0.08, 0.2))
    forced = _apply(faults, level, scale, peak_mask)
    burst = 1.0 + _spikes(n, rng, rng.uniform(0.005, 0.02), rng.uniform(1.2, 2.0))
    rate = np.maximum(level, 0.0) * rng.lognormal(0.0, 1.0, n) ** scale * burst
    return _finish(rng.poisson(rate).astype(float), forced)


def _latency(rng, n, season, faults, peak_mask):
    level = rng.uniform(20, 300) * (1.0 + rng.uniform(0.1, 0.6) * season)
    scale = np.full(n, rng.uniform(0.15, 0.4))
    forced = _apply(faults, level, scale, peak_mask)
    tail = 1.0 + _spikes(n, rng, rng.uniform(0.01, 0.03), rng.uniform(1.1, 1.8))
    values = np.maximum(level, 0.5) * np.exp(rng.normal(0.0, 1.0, n) * scale) * tail
    return np.round(_finish(values, forced), 2)


def _network(rng, n, season, faults, peak_mask):
    level = rng.uniform(1e5, 5e7) * (0.15 + season)
    scale = np.full(n, rng.uniform(0.2, 0.5))
    forced = _apply(faults, level, scale, peak_mask)
    burst = 1.0 + 2.0 * _spikes(n, rng, rng.uniform(0.003, 0.012), rng.uniform(1.2, 2.0))
    values = np.maximum(level, 0.0) * np.exp(rng.normal(0.0, 1.0, n) * scale) * burst
    return np.round(_finish(values, forced))


def _demand(rng, n, season, faults, peak_mask):
    level = rng.uniform(30, 300) * (0.05 + season)
    scale = np.full(n, rng.uniform(0.05, 0.15))
    forced = _apply(faults, level, scale, peak_mask)
    rate = np.maximum(level, 0.0) * rng.lognormal(0.0, 1.0, n) ** scale
    single = rng.random(n) < 0.002  # the odd event-night surge of one interval
    rate = np.where(single, rate * rng.uniform(2.0, 4.0, n), rate)
    return _finish(rng.poisson(rate).astype(float), forced)


def _temperature(rng, n, season, faults, peak_mask):
    drift = np.cumsum(rng.normal(0.0, 0.03, n))
    drift -= np.linspace(0.0, drift[-1], n)  # bounded wander, not a trend
    level = rng.uniform(35, 60) + rng.uniform(3, 10) * season + drift
    scale = np.full(n, rng.uniform(0.2, 0.6))
    forced = _apply(faults, level, scale, peak_mask)
    glitch = _spikes(n, rng, 0.002, 1.5) * rng.choice([-1.0, 1.0], n) * 4.0 * scale
    values = level + rng.normal(0.0, 1.0, n) * scale + glitch
    return np.round(_finish(values, forced), 2)


#: folder -> (generator, faults that make sense for the metric, twin-peaked season).
KINDS: dict[str, tuple[Callable, tuple[str, ...], bool]] = {
    "synthCpu": (_cpu, ("shift", "ramp", "variance", "spike", "stuck", "no_peak"), False),
    "synthRequests": (_requests, ("shift", "ramp", "zero", "spike", "no_peak", "variance"), False),
    "synthLatency": (_latency, ("shift", "ramp", "variance", "spike"), False),
    "synthNetwork": (_network, ("shift", "zero", "spike", "no_peak", "variance"), False),
    "synthDemand": (_demand, ("shift", "zero", "no_peak", "spike"), True),
    "synthTemperature": (_temperature, ("shift", "ramp", "stuck", "variance"), False),
}

#: Relative size ranges per fault kind (fraction of the typical level, or noise multiple).
SIZES = {
    "shift": (0.5, 1.2),
    "ramp": (0.6, 1.5),
    "variance": (3.0, 6.0),
    "spike": (1.5, 3.5),
    "no_peak": (0.0, 0.0),
    "zero": (0.0, 0.0),
    "stuck": (0.0, 0.0),
}
#: Length ranges in rows (persistent faults still take a length: the ramp's duration).
LENGTHS = {
    "shift": (1, 1),
    "ramp": (288, 864),
    "variance": (36, 144),
    "spike": (12, 48),
    "no_peak": (288, 288),
    "zero": (24, 288),
    "stuck": (36, 288),
}


def _faults(rng: np.random.Generator, n: int, kinds: tuple[str, ...], index: int) -> list[Fault]:
    """0-3 faults, non-overlapping, each after EARLIEST_FAULT; file 0 of a folder has none."""
    count = 0 if index == 0 else int(rng.choice([1, 1, 2, 2, 3]))
    if count == 0:
        return []
    half = int(WINDOW_FRACTION * n / count / 2)
    faults: list[Fault] = []
    for _ in range(50):
        if len(faults) == count:
            break
        kind = str(rng.choice(kinds))
        length = int(rng.integers(LENGTHS[kind][0], LENGTHS[kind][1] + 1))
        if kind == "shift":
            length = n
        start = int(rng.integers(int(EARLIEST_FAULT * n), int(0.92 * n)))
        if kind == "no_peak":
            start -= start % ROWS_PER_DAY  # the whole calendar day (its peak hours change)
        if start < EARLIEST_FAULT * n or any(
            abs(start - f.start) < max(2 * half, min(f.length, 600) + half) for f in faults
        ):
            continue
        size = float(rng.uniform(*SIZES[kind]))
        if kind == "shift" and rng.random() < 0.4:
            size = -min(size, 0.6)  # a drop: traffic lost, load moved away
        faults.append(Fault(kind, start, length, size))
    return sorted(faults, key=lambda f: f.start)


def _windows(faults: list[Fault], n: int, stamps: list[str], peak_mask: np.ndarray) -> list:
    if not faults:
        return []
    width = int(WINDOW_FRACTION * n / len(faults))
    out = []
    for f in faults:
        onset = f.start
        if f.kind == "no_peak":  # the anomaly begins where the peak should have risen
            rising = np.flatnonzero(peak_mask[f.start : f.start + ROWS_PER_DAY])
            onset = f.start + int(rising[0]) if len(rising) else f.start
        lo, hi = max(0, onset - width // 2), min(n - 1, onset + width // 2)
        out.append([stamps[lo] + ".000000", stamps[hi] + ".000000"])
    return out


def generate(out_dir: Path, seed: int = DEFAULT_SEED, per_folder: int = FILES_PER_FOLDER) -> dict:
    """Write the corpus under ``out_dir`` (data/ and labels/); return {file: [fault kinds]}."""
    rng = np.random.default_rng(seed)
    out_dir = Path(out_dir)
    labels: dict[str, list] = {}
    manifest: dict[str, list[str]] = {}
    for folder, (make, kinds, twin) in KINDS.items():
        (out_dir / "data" / folder).mkdir(parents=True, exist_ok=True)
        for index in range(per_folder):
            n = int(rng.integers(2000, 5001))
            offset = timedelta(days=int(rng.integers(0, 7)), hours=int(rng.integers(0, 24)))
            start = FIRST_DAY + offset
            season = _season(n, start, rng, twin)
            peak_mask = season > 0.5 * season.max()
            faults = _faults(rng, n, kinds, index)
            values = make(rng, n, season, faults, peak_mask)
            stamps = [(start + i * STEP).strftime(TIMESTAMP_FORMAT) for i in range(n)]
            rel = f"{folder}/{folder[5:].lower()}_{index}.csv"
            with (out_dir / "data" / rel).open("w") as handle:
                handle.write("timestamp,value\n")
                handle.writelines(f"{s},{v:g}\n" for s, v in zip(stamps, values, strict=True))
            labels[rel] = _windows(faults, n, stamps, peak_mask)
            manifest[rel] = [f"{f.kind}@{f.start}" for f in faults]
    (out_dir / "labels").mkdir(parents=True, exist_ok=True)
    (out_dir / "labels" / "combined_windows.json").write_text(json.dumps(labels, indent=1))
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest
