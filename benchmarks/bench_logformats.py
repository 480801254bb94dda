"""Template mining on generated log formats that no public Loghub system has (issue 15).

The nine public systems shaped the miner; these streams (``benchmarks.logformats``: syslog in
both RFCs, oslo.log, Python logging, ``|``-joined fields, JSON lines, logfmt, access logs,
Spring Boot, Go's ``log``, Windows event text, macOS ``log show``) did not. Mined with the
shipped defaults, exactly as ``manage.py loghub_predict`` does, and scored with the shared
``loghub_ga.py``'s own truth loader and metrics, so the figure is comparable with the
leave-one-system-out table beside it.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from benchmarks.bench_crossval import _resolve
from benchmarks.logformats import write_corpus
from knowledge.loghub import read_lines
from knowledge.loghub_crossval import load_scorer, mine_lines
from knowledge.logparse import MAX_WORD_VALUES, SIM_TH


def score_generated(out_dir: Path, scorer_path: Path) -> dict[str, dict[str, float]]:
    """GA/FGA per generated format (mined with the shipped defaults)."""
    scorer = load_scorer(scorer_path)
    results = {}
    for name in write_corpus(out_dir):
        lines = read_lines(out_dir / "loghub_2k" / name / f"{name}_2k.log")
        ids = mine_lines(lines, sim_th=SIM_TH, max_word_values=MAX_WORD_VALUES)
        line_ids, groups, _, _ = scorer.load_truth(str(out_dir), "original", name)
        results[name] = scorer.grouping_metrics(groups, [ids[i - 1] for i in line_ids])
    return results


def format_report(results: dict[str, dict[str, float]]) -> str:
    lines = ["Generated formats (unseen by the miner's design), shipped defaults:"]
    lines.append(f"  {'format':<14} {'GA':>6} {'FGA':>6}  pred/true groups")
    for name, m in results.items():
        lines.append(
            f"  {name:<14} {m['GA']:>6.3f} {m['FGA']:>6.3f}  {m['pred_groups']}/{m['true_groups']}"
        )
    n = len(results)
    worst = min(results, key=lambda k: results[k]["GA"])
    lines.append(
        f"  mean GA {sum(m['GA'] for m in results.values()) / n:.3f},"
        f" mean FGA {sum(m['FGA'] for m in results.values()) / n:.3f},"
        f" lowest GA {results[worst]['GA']:.3f} ({worst})"
    )
    return "\n".join(lines)


def main() -> None:
    scorer = _resolve(
        "LOGHUB_GA_SCRIPT", "../shared/eval/loghub_ga.py", "/work/shared/eval/loghub_ga.py"
    )
    if not scorer.is_file():
        print(f"Loghub scorer ({scorer}) not found: skipped")
        return
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="logformats-") as out:
        print(format_report(score_generated(Path(out), scorer)))
    print(f"({time.perf_counter() - started:.1f}s)")


if __name__ == "__main__":
    main()
