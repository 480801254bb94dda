"""``manage.py embedded status`` reports and starts nothing (it used to restart the servers
``embedded stop`` had just stopped, because loading the settings started them)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

from aiops_site import embedded

MANAGE = Path(__file__).resolve().parents[2] / "manage.py"


def run_status(var_dir: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["AIOPS_VAR_DIR"] = str(var_dir)
    done = subprocess.run(
        [sys.executable, str(MANAGE), "embedded", "status"],
        capture_output=True, text=True, env=env, timeout=60, check=True,
    )  # fmt: skip
    return done.stdout


def test_status_of_stopped_servers_starts_nothing(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    out = run_status(var_dir)
    assert "postgresql: not running" in out and "redis:      not running" in out
    assert not embedded.postgres_running(var_dir)
    assert not (var_dir / "pg").exists() and not (var_dir / "redis").exists()


def test_status_of_running_servers_names_them() -> None:
    out = run_status(settings.VAR_DIR)  # the test session's own servers, running now
    port = embedded._running_redis_port(settings.VAR_DIR)
    assert f"redis:      redis://127.0.0.1:{port}/0" in out
    assert "postgresql: postgresql://" in out
