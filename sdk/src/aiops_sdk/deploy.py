"""``deploy.finished`` from a deploy script: the one fact that explains most regressions.

::

    aiops-sdk deploy --version 2.4.1 --previous-version 2.4.0
    python -m aiops_sdk deploy --version "$GIT_SHA"        # same thing
    deploy_finished("2.4.1", service="bookmarks", url=..., token=...)

The service, URL and token come from ``--service``/``--url``/``--token`` or the
``AIOPS_SERVICE``/``AIOPS_URL``/``AIOPS_TOKEN`` environment variables. Unlike telemetry,
a deploy marker is worth waiting for: the call returns once the server accepted it and
raises (the command exits 1) when it did not.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from aiops_sdk.client import AIOpsClient
from aiops_sdk.core import TransportError
from aiops_sdk.process import default_instance


def deploy_finished(
    version: str,
    *,
    service: str,
    url: str,
    token: str | None,
    previous_version: str | None = None,
    instance: str | None = None,
    timeout: float = 10.0,
) -> str:
    """Send ``deploy.finished`` and wait until it is accepted; returns the event id.

    Raises :class:`aiops_sdk.TransportError` when the server refused it or did not answer
    within ``timeout`` seconds.
    """
    payload = {"version": version, "service": service}
    if previous_version:
        payload["previous_version"] = previous_version
    client = AIOpsClient(
        url, token, service=service, instance=instance or default_instance("deploy")
    )
    try:
        event_id = client.emit("deploy.finished", payload, severity="info")
        delivered = client.flush(timeout=timeout)
        stats = client.stats
    finally:
        client.close(timeout=0.1)
    if not delivered:
        raise TransportError(f"deploy.finished not delivered within {timeout}s")
    if stats.failed:
        raise TransportError("the server refused deploy.finished (see the log for why)")
    return event_id


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="aiops-sdk", description="AI-Ops Core SDK commands")
    commands = parser.add_subparsers(dest="command", required=True)
    deploy = commands.add_parser("deploy", help="report a finished deploy (deploy.finished)")
    deploy.add_argument("--version", required=True, help="the version now running")
    deploy.add_argument("--previous-version", help="the version it replaced")
    deploy.add_argument("--service", default=os.environ.get("AIOPS_SERVICE"))
    deploy.add_argument("--url", default=os.environ.get("AIOPS_URL"))
    deploy.add_argument("--token", default=os.environ.get("AIOPS_TOKEN"))
    deploy.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args(argv)
    missing = [name for name in ("service", "url", "token") if not getattr(args, name)]
    if missing:
        parser.error("missing " + ", ".join(f"--{m} (or AIOPS_{m.upper()})" for m in missing))
    try:
        event_id = deploy_finished(
            args.version,
            service=args.service,
            url=args.url,
            token=args.token,
            previous_version=args.previous_version,
            timeout=args.timeout,
        )
    except (TransportError, ValueError) as exc:
        print(f"aiops-sdk: {exc}", file=sys.stderr)
        return 1
    print(f"deploy.finished {args.version} sent ({event_id})")
    return 0
