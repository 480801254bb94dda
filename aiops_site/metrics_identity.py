"""Metric files named by process id *and* host, for processes that share one folder.

In multiprocess mode every process writes ``<type>_<pid>.db`` into ``PROMETHEUS_MULTIPROC_DIR``
and ``/metrics`` merges the folder. Containers sharing that folder through a volume (web and
``--scale worker=N`` in compose.yaml) each have their own pid namespace, so two of them are
easily pid 7 and would write the same file. The host name (a container's id) makes the
name unique. It must be installed before any metric exists: ``aiops_site/__init__.py`` does.
"""

from __future__ import annotations

import os
import socket

from prometheus_client import values

# Read once: the identity is computed on every metric update, and forks keep the host.
_HOST = socket.gethostname().replace("_", "-")  # "_" separates the parts of the file name


def process_identity(pid: int | None = None) -> str:
    return f"{os.getpid() if pid is None else pid}-{_HOST}"


def install() -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        values.ValueClass = values.MultiProcessValue(process_identity)
