"""Metric files carry the host beside the pid, so containers sharing one metrics folder
(compose's web and scaled workers) never write the same file."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest, multiprocess

from tests.deploy.promql import ROOT

CHILD = """
import os, aiops_site
from prometheus_client import Counter
Counter("ai_ops_identity_probe", "probe").inc(3)
print(os.getpid())
"""


def test_a_process_writes_files_named_by_pid_and_host_and_they_merge(tmp_path: Path):
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    pids = [
        subprocess.run([sys.executable, "-c", CHILD], cwd=ROOT, env=env, capture_output=True,
                       text=True, check=True).stdout.strip()
        for _ in range(2)
    ]  # fmt: skip

    host = socket.gethostname().replace("_", "-")
    assert sorted(p.name for p in tmp_path.glob("*.db")) == sorted(
        f"counter_{pid}-{host}.db" for pid in pids
    )
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(tmp_path))
    assert "ai_ops_identity_probe_total 6.0" in generate_latest(registry).decode()
