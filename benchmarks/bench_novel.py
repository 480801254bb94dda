"""Novel faults (``manage.py scorecard --novel``): faults no catalogue problem or rule was
written for, through the real stack, scored on honest diagnosis, wrong confident diagnoses,
remediation runs started and the page an operator gets.

Like ``bench_scorecard``, it runs in a child process on a **fresh, temporary**
``AIOPS_VAR_DIR`` (its own embedded PostgreSQL and Redis, the seeded catalogue and rules),
so the figures do not depend on what a previous run left behind; about 19 minutes (each
fault 75 s, then 95 s quiet). ``BENCH_NOVEL_FAULT_SECONDS`` is each fault's window.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="aiops-novel-") as var_dir:
        report_path = Path(var_dir) / "report.json"
        argv = [
            sys.executable, "manage.py", "scorecard", "--novel", "--json", str(report_path),
            "--fault-seconds", os.environ.get("BENCH_NOVEL_FAULT_SECONDS", "75"),
        ]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        env.update(AIOPS_VAR_DIR=var_dir, LOG_LEVEL="ERROR")
        try:
            subprocess.run(argv, cwd=ROOT, env=env, check=True)  # noqa: S603  (our argv)
            kept = ROOT / "var" / "novel" / f"report-{int(time.time())}.json"
            kept.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(report_path, kept)  # the temporary folder goes; the figures stay
            print(f"Kept: {kept}")
        finally:
            subprocess.run(  # noqa: S603
                [sys.executable, "manage.py", "embedded", "stop"], cwd=ROOT, env=env, check=False
            )


if __name__ == "__main__":
    main()
