"""``pip install ./sdk`` into a fresh virtualenv with none of the product's dependencies,
then that interpreter sends an event to a running AI-Ops Core (issue 12's "done when")."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import venv
from pathlib import Path
from typing import Any

import pytest
import redis

from agents.models import ApiToken

SDK_DIR = Path(__file__).resolve().parents[2] / "sdk"
IGNORED_IN_SOURCE = shutil.ignore_patterns("build", "*.egg-info", "__pycache__")

# Runs inside the fresh virtualenv: proves what is (not) installed, then sends one event.
SERVICE_SCRIPT = """
import importlib.util, json, sys
absent = [m for m in ("django", "redis", "ulid", "agents", "celery", "flask", "starlette")
          if importlib.util.find_spec(m)]
from aiops_sdk import AIOpsClient
import aiops_sdk.asgi, aiops_sdk.wsgi  # no framework needed to import them
url, token = sys.argv[1], sys.argv[2]
with AIOpsClient(url, token, service="bookmarks", instance="standalone-1") as client:
    event_id = client.emit("import.failed", {"import_id": "i-9", "error": "timeout"},
                           severity="error")
    flushed = client.flush(timeout=20)
    stats = client.stats
print(json.dumps({"present": absent, "id": event_id, "flushed": flushed,
                  "sent": stats.sent, "failed": stats.failed}))
"""


def clean_env() -> dict[str, str]:
    """This machine's environment minus anything pointing at the product's virtualenv."""
    leaks = ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "DJANGO_SETTINGS_MODULE")
    return {k: v for k, v in os.environ.items() if k not in leaks}


@pytest.mark.timeout(180)
@pytest.mark.django_db(transaction=True)
def test_a_fresh_virtualenv_with_only_the_sdk_sends_an_event_to_the_live_server(
    live_server: Any, clean_redis: redis.Redis, tmp_path: Path
) -> None:
    env_dir = tmp_path / "service-venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = str(env_dir / "bin" / "python")
    # From a copy: setuptools builds in the source tree, and a stale build/ there could put
    # modules deleted since into the wheel.
    source = shutil.copytree(SDK_DIR, tmp_path / "sdk", ignore=IGNORED_IN_SOURCE)
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(source)],
        check=True,
        env=clean_env(),
        cwd=tmp_path,  # not the repository: nothing of the product may be importable
        timeout=150,
    )
    _, token = ApiToken.issue("standalone", "bookmarks")

    run = subprocess.run(
        [python, "-c", SERVICE_SCRIPT, live_server.url, token],
        check=True,
        capture_output=True,
        text=True,
        env=clean_env(),
        cwd=tmp_path,
        timeout=60,
    )
    result = json.loads(run.stdout.strip().splitlines()[-1])

    assert result["present"] == []  # httpx and its own dependencies only
    assert (result["flushed"], result["sent"], result["failed"]) == (True, 1, 0)
    stored = clean_redis.xrange("events:import.failed")
    assert [fields[b"id"].decode() for _, fields in stored] == [result["id"]]
    event = json.loads(stored[0][1][b"e"])
    assert (event["source"], event["instance"], event["severity"]) == (
        "bookmarks",
        "standalone-1",
        "error",
    )
