"""The real-application scenario: a Wagtail site (from PyPI) with real faults, end to end.

Runs ``tests/realapp/harness.py`` fully: onboarding, ``--warmup`` seconds of healthy traffic
with ordinary spikes (cron-like bursts), then four faults injected from outside the app (a
locked database, a hanging upstream, a deploy that raises, huge uploads), each followed by
recovery, then ``--healthy`` seconds of healthy traffic with spikes for the false-alarm rate.

    .venv/bin/python benchmarks/bench_real_app.py [--warmup 600] [--healthy 600] [--recovery 300]

Uses the pytest fixtures' machinery (a test database, the live ingest API), so it runs as
a pytest session of its own and prints the figures at the end.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

if __name__ == "__main__":
    args = sys.argv[1:]
    env_args = []
    for name in ("--warmup", "--healthy", "--recovery"):
        if name in args:
            env_args.append(f"{name.strip('-').upper()}={args[args.index(name) + 1]}")
    env = dict(__import__("os").environ)
    for pair in env_args:
        key, value = pair.split("=")
        env[f"REALAPP_{key}"] = value
    sys.exit(subprocess.call(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:logging", "-p", "no:cacheprovider",
         "--timeout", "7200", str(ROOT / "tests" / "realapp" / "scenario.py")],
        cwd=ROOT, env=env,
    ))  # fmt: skip
