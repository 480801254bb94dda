"""Self-calibrating alarm levels against the shipped fixed level (issue 15, ``agents.
nab_calibration``): nested and constant-only leave-one-folder-out, each constant's cost on the
public folders and on the generated corpus, and the adoption rule's verdict, all in one run.

``benchmarks/run.py calibration``; NAB_DIR / NAB_SCORER as for ``bench_crossval``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from agents import nab_calibration as cal
from agents import nab_crossval, nab_levels
from agents.monitor.detector import REFRACTORY
from benchmarks.bench_crossval import _resolve
from simulator import nab_corpus

SHORT = {"standard": "std", "reward_low_FP_rate": "lowFP", "reward_low_FN_rate": "lowFN"}


def main() -> None:
    nab_dir = _resolve("NAB_DIR", "../shared/data/nab", "/work/shared/data/nab")
    path = _resolve("NAB_SCORER", "../shared/eval/nab_score.py", "/work/shared/eval/nab_score.py")
    if not (nab_dir / "data").is_dir() or not path.is_file():
        print(f"NAB data ({nab_dir}) or scorer ({path}) not found: skipped; set NAB_DIR")
        return
    scorer = nab_crossval.load_scorer(path)
    started = time.perf_counter()
    structures = cal.structures()
    files, table = nab_crossval.corpus_surprises(scorer, nab_dir, structures)
    with tempfile.TemporaryDirectory() as tmp:
        nab_corpus.generate(Path(tmp))
        corpus_files, corpus = nab_crossval.corpus_surprises(scorer, Path(tmp), structures[:1])
    print(f"(surprises of every structure and file: {time.perf_counter() - started:.1f}s)")
    for candidate in (None, *cal.CANDIDATES):
        started = time.perf_counter()
        report(scorer, candidate, files, structures, table, corpus_files, corpus[0])
        print(f"({time.perf_counter() - started:.1f}s)\n", flush=True)


def report(scorer, candidate, files, structures, table, corpus_files, corpus) -> None:
    """Every figure the adoption rule reads, for one candidate (``None``: the fixed level)."""
    name, _ = cal._grid(candidate)
    title = "the shipped FIXED level" if candidate is None else f"candidate {candidate!r}"
    print(f"=== {title} (constant {name}, floor {cal.FLOOR:g} for candidates) ===")
    nested = cal.nested(scorer, candidate, files, structures, table)
    print(nab_crossval.format_report(nested))
    only = cal.nested(scorer, candidate, files, structures[:1], table[:1], (REFRACTORY,))
    std = only["standard"]
    scored = [f for f in std.folds if f.score is not None]
    picks = ", ".join(f"{f.folder} {f.score:.1f} ({f.config[name]:g})" for f in scored)
    print(f"constant-only leave-one-folder-out (shipped structure, standard): {picks};"
          f" mean {std.mean:.1f}")  # fmt: skip
    public = cal.costs(scorer, candidate, files, table[0])
    corpus_costs = cal.costs(scorer, candidate, corpus_files, corpus)
    shown = "" if candidate is None else f", column 'level' = {name}"
    print(nab_levels.format_levels(public, f"the public folders{shown}"))
    print(nab_levels.format_levels(corpus_costs, f"the generated corpus{shown}"))
    value = cal.chosen(nested["standard"], name)
    at = [r.level for r in public].index(value)
    detections = [cal.alarm_rows(candidate, x, value, REFRACTORY) for x in table[0]]
    figures = {
        "nested standard": nested["standard"].mean,
        "constant-only": std.mean,
        "nested low-FP": nested["reward_low_FP_rate"].mean,
        "nested low-FN": nested["reward_low_FN_rate"].mean,
        "corpus standard": corpus_costs[at].scores["standard"],
        "corpus per day": corpus_costs[at].per_day,
    }
    quiet = cal.quiet_worst(files, detections, "artificialNoAnomaly")
    failed = cal.verdict(figures, public, value, quiet)
    shown = ", ".join(f"{k} {v:.3f}" if "day" in k else f"{k} {v:.1f}" for k, v in figures.items())
    print(f"at {name} {value:g} (median of the standard folds' choices): {shown};"
          f" artificialNoAnomaly worst file {quiet}")  # fmt: skip
    print("verdict: " + ("ADOPT" if not failed else "not adopted - " + "; ".join(failed)))


if __name__ == "__main__":
    main()
