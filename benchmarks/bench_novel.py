"""Novel faults (``manage.py scorecard --novel``): faults no catalogue problem or rule was
written for, through the real stack, scored on honest diagnosis, wrong confident diagnoses,
remediation runs started and the page an operator gets.

Like ``bench_scorecard``, it runs in a child process on a **fresh, temporary**
``AIOPS_VAR_DIR`` (its own embedded PostgreSQL and Redis, the seeded catalogue and rules),
so the figures do not depend on what a previous run left behind; about 19 minutes (each
fault 75 s, then 95 s quiet). ``BENCH_NOVEL_FAULT_SECONDS`` is each fault's window.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from benchmarks.bench_scorecard import run_scorecard

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    fault_seconds = os.environ.get("BENCH_NOVEL_FAULT_SECONDS", "75")
    report = run_scorecard(["--novel", "--fault-seconds", fault_seconds], prefix="aiops-novel-")
    kept = ROOT / "var" / "novel" / f"report-{int(time.time())}.json"
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_text(json.dumps(report, indent=2))  # the temporary folder goes; the figures stay
    print(f"Kept: {kept}")


if __name__ == "__main__":
    main()
