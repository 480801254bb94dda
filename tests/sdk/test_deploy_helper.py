"""``deploy.finished`` from a deploy script, against the real ingest API on a live server:
the function, the ``aiops-sdk`` console script and ``python -m aiops_sdk``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import redis

from agents.models import ApiToken
from aiops_sdk import TransportError, deploy_finished

pytestmark = pytest.mark.django_db(transaction=True)


def deploys(clean_redis: redis.Redis) -> list[dict[str, Any]]:
    return [json.loads(f[b"e"]) for _, f in clean_redis.xrange("events:deploy.finished")]


def test_the_function_waits_until_the_ingest_accepted_it(
    live_server: Any, clean_redis: redis.Redis
) -> None:
    _, token = ApiToken.issue("deploys", "bookmarks")
    event_id = deploy_finished(
        "2.4.1", service="bookmarks", url=live_server.url, token=token, previous_version="2.4.0"
    )
    (event,) = deploys(clean_redis)
    assert event["id"] == event_id and event["source"] == "bookmarks"
    assert event["payload"] == {
        "version": "2.4.1",
        "service": "bookmarks",
        "previous_version": "2.4.0",
    }
    assert event["instance"].startswith("deploy@")


def test_a_refused_deploy_raises(live_server: Any, clean_redis: redis.Redis) -> None:
    with pytest.raises(TransportError, match="refused"):
        deploy_finished("2.4.1", service="bookmarks", url=live_server.url, token="aiops_wrong")
    assert deploys(clean_redis) == []


@pytest.mark.parametrize(
    "command",
    [[str(Path(sys.executable).with_name("aiops-sdk"))], [sys.executable, "-m", "aiops_sdk"]],
)
def test_the_command_line_sends_it_and_says_so(
    live_server: Any, clean_redis: redis.Redis, command: list[str]
) -> None:
    _, token = ApiToken.issue("deploys", "bookmarks")
    env = {**os.environ, "AIOPS_URL": live_server.url, "AIOPS_TOKEN": token,
           "AIOPS_SERVICE": "bookmarks"}  # fmt: skip
    done = subprocess.run(
        [*command, "deploy", "--version", "3.0.0"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("deploy.finished 3.0.0 sent (")
    assert [e["payload"]["version"] for e in deploys(clean_redis)] == ["3.0.0"]
    refused = subprocess.run(
        [*command, "deploy", "--version", "3.0.1", "--token", "aiops_wrong"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert refused.returncode == 1 and "refused" in refused.stderr
