"""Celery worker integration: the agents run inside every worker, as members of their groups."""

from __future__ import annotations

import logging
from typing import Any

from celery import bootsteps

logger = logging.getLogger(__name__)


class AgentsStep(bootsteps.StartStopStep):
    """Start each registered agent's consumer loop in the worker's main process.

    Runs after the pool so prefork children are forked before any agent thread exists.
    ``RUN_AGENTS_IN_WORKERS=false`` gives a worker that only runs tasks (ticks, remediation).
    """

    requires = {"celery.worker.components:Pool"}

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        self.supervisor = None

    def start(self, worker: Any) -> None:
        from django.conf import settings

        if not settings.RUN_AGENTS_IN_WORKERS:
            logger.info("agents disabled in this worker (RUN_AGENTS_IN_WORKERS=false)")
            return
        from agents.runtime import AgentSupervisor

        self.supervisor = AgentSupervisor()
        self.supervisor.start()

    def stop(self, worker: Any) -> None:
        if self.supervisor is not None:
            self.supervisor.stop()
            self.supervisor = None
