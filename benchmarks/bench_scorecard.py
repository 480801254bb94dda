"""The scenario scorecard (issue 8): every fault scenario through the real stack, scored.

Runs ``manage.py scorecard`` in a child process on a **fresh, temporary** ``AIOPS_VAR_DIR``
(its own embedded PostgreSQL and Redis, an empty knowledge graph plus the seeded catalogue
and rules), so the figures do not depend on what a previous run left behind, and prints
the metrics beside the plan's targets.

``BENCH_SCORECARD`` = ``full`` (default: a healthy period, then all nine faults with
approvals given after 5 s and verification awaited, then the agents-disabled baseline;
about 30 minutes) or ``quick`` (the CI set, about 4 minutes).
``BENCH_SCORECARD_VERIFY_AFTER`` (default 65 s) is the rules' verification window during
the run; ``BENCH_SCORECARD_HEALTHY`` (default 300 s) the healthy period.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_scorecard(options: list[str], *, prefix: str) -> dict:
    """``manage.py scorecard`` with ``options`` on a fresh, temporary ``AIOPS_VAR_DIR``, whose
    embedded servers are stopped afterwards whatever happened; returns its JSON report."""
    with tempfile.TemporaryDirectory(prefix=prefix) as var_dir:
        report_path = Path(var_dir) / "report.json"
        argv = [sys.executable, "manage.py", "scorecard", "--json", str(report_path), *options]
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        env.update(AIOPS_VAR_DIR=var_dir, LOG_LEVEL="ERROR")
        try:
            subprocess.run(argv, cwd=ROOT, env=env, check=True)  # noqa: S603  (our argv)
        finally:
            subprocess.run(  # noqa: S603
                [sys.executable, "manage.py", "embedded", "stop"], cwd=ROOT, env=env, check=False
            )
        return json.loads(report_path.read_text())


def main() -> None:
    mode = os.environ.get("BENCH_SCORECARD", "full")
    if mode == "quick":
        options = ["--quick"]
    else:
        options = [
            "--verify-after", os.environ.get("BENCH_SCORECARD_VERIFY_AFTER", "65"),
            "--healthy-seconds", os.environ.get("BENCH_SCORECARD_HEALTHY", "300"),
        ]  # fmt: skip
    report = run_scorecard(options, prefix="aiops-scorecard-")
    print(f"\nscorecard ({mode}), targets:")
    metrics = report["metrics"]
    for name, target in report["targets"].items():
        verdict = {True: "met", False: "NOT met", None: "n/a"}[target["met"]]
        print(f"  {name:<34} {metrics.get(name)!s:>8}  target {target['op']} "
              f"{target['target']}: {verdict}")  # fmt: skip


if __name__ == "__main__":
    main()
