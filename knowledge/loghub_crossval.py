"""Leave-one-system-out cross-validation of the template miner on Loghub (issue 15).

Each system is held out in turn: the miner's tunables (a small fixed grid, ``CONFIGS``) are
chosen on the other systems by their mean of GA and FGA, then the held-out system is mined
with the chosen configuration and scored. Both label sets are covered: the original Loghub
2k labels (9 systems shipped) and the corrected ``loghub2_2k`` labels (7 of them); for each
label set the folds and the tuning use only systems that have those labels.

Scoring uses the shared scorer (``loghub_ga.py``) as a library: its truth loader and its
``grouping_metrics``. Mining is what ``manage.py loghub_predict`` does (``mine_lines``).

A limit worth stating: this measures the choice of *constants*. The miner's *design* (header
classes, masks) was shaped looking at all shipped systems, which no re-run can undo; only
systems that are not shipped measure that.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from types import ModuleType
from typing import Any

from knowledge.loghub import find_systems, read_lines
from knowledge.logparse import LEARN_LINES, HeaderModel, TemplateMiner

#: Miner settings the folds choose from (drain3 similarity, word-position merge limit).
CONFIGS: list[dict[str, Any]] = [
    {"sim_th": sim_th, "max_word_values": values}
    for sim_th in (0.5, 0.6, 0.7)
    for values in (2, 4, 8)
]
LABEL_SETS = {"original": "loghub_2k", "loghub2": "loghub2_2k"}


def load_scorer(path: Path) -> ModuleType:
    """Import ``loghub_ga.py`` (not a package) so its metrics are used, not re-implemented."""
    spec = importlib.util.spec_from_file_location("loghub_ga", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the Loghub scorer from {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def mine_lines(lines: Sequence[str], sim_th: float, max_word_values: int) -> list[int]:
    """Cluster id per raw line, exactly as ``knowledge.loghub.predict_system`` mines."""
    header_model = HeaderModel().fit(islice(lines, LEARN_LINES))
    miner = TemplateMiner(header_model=header_model, sim_th=sim_th)
    mined = [miner.add(line) for line in lines]
    return miner.final_cluster_ids(mined, max_word_values=max_word_values)


def _mine_job(job: tuple[str, dict[str, Any]]) -> list[int]:
    return mine_lines(read_lines(Path(job[0])), **job[1])


@dataclass
class SystemFold:
    system: str
    config: dict[str, Any]
    ga: float
    fga: float


@dataclass
class LabelSetResult:
    labels: str
    folds: list[SystemFold] = field(default_factory=list)
    in_sample: dict[str, float] = field(default_factory=dict)  # metric -> mean
    in_sample_config: dict[str, Any] = field(default_factory=dict)

    def mean(self, metric: str) -> float:
        values = [getattr(f, metric) for f in self.folds]
        return sum(values) / len(values)


def cross_validate(
    loghub_dir: Path,
    scorer_path: Path,
    configs: Sequence[dict[str, Any]] = CONFIGS,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, LabelSetResult]:
    """Leave-one-system-out GA/FGA per label set (see the module docstring)."""
    scorer = load_scorer(scorer_path)
    loghub_dir = Path(loghub_dir)
    systems = find_systems(loghub_dir)
    jobs = [(str(path), dict(c)) for c in configs for _, path in systems]
    workers = workers or os.cpu_count() or 1
    clusters: list[list[int]] = []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for done, ids in enumerate(pool.map(_mine_job, jobs, chunksize=1), start=1):
            clusters.append(ids)
            if progress is not None:
                progress(done, len(jobs))
    names = [name for name, _ in systems]
    results: dict[str, LabelSetResult] = {}
    for truth, folder in LABEL_SETS.items():
        labelled = [s for s in names if (loghub_dir / folder / s).is_dir()]
        # metrics[c][system] = (GA, FGA) of config c on that system
        metrics: list[dict[str, tuple[float, float]]] = []
        for c in range(len(configs)):
            per_system = {}
            for system in labelled:
                line_ids, groups, _, _ = scorer.load_truth(str(loghub_dir), truth, system)
                ids = clusters[c * len(names) + names.index(system)]
                m = scorer.grouping_metrics(groups, [ids[i - 1] for i in line_ids])
                per_system[system] = (m["GA"], m["FGA"])
            metrics.append(per_system)

        def fitness(c: int, over: list[str], metrics: list = metrics) -> float:
            return sum(sum(metrics[c][s]) / 2 for s in over) / len(over)

        result = LabelSetResult(truth)
        for held_out in labelled:
            train = [s for s in labelled if s != held_out]
            c = max(range(len(configs)), key=lambda k: (fitness(k, train), -k))
            ga, fga = metrics[c][held_out]
            result.folds.append(SystemFold(held_out, dict(configs[c]), ga, fga))
        c = max(range(len(configs)), key=lambda k: (fitness(k, labelled), -k))
        result.in_sample_config = dict(configs[c])
        result.in_sample = {
            "ga": sum(metrics[c][s][0] for s in labelled) / len(labelled),
            "fga": sum(metrics[c][s][1] for s in labelled) / len(labelled),
        }
        results[truth] = result
    return results


def format_report(results: dict[str, LabelSetResult]) -> str:
    """Per-fold GA/FGA and the means, as ``make bench`` and ``manage.py loghub_crossval`` print."""
    lines = []
    for truth, result in results.items():
        lines.append(f"Loghub leave-one-system-out, labels {truth} ({LABEL_SETS[truth]}):")
        lines.append(f"  {'held-out system':<16} {'GA':>6} {'FGA':>6}  chosen on the others")
        for f in result.folds:
            lines.append(f"  {f.system:<16} {f.ga:>6.3f} {f.fga:>6.3f}  {f.config}")
        worst = min(result.folds, key=lambda f: f.ga)
        lines.append(
            f"  mean GA {result.mean('ga'):.3f}, mean FGA {result.mean('fga'):.3f},"
            f" lowest GA {worst.ga:.3f} ({worst.system})"
        )
        lines.append(
            f"  in-sample (best config on all systems, NOT held-out): GA"
            f" {result.in_sample['ga']:.3f}, FGA {result.in_sample['fga']:.3f}"
            f" {result.in_sample_config}"
        )
    return "\n".join(lines)
