"""The Celery application: the agents' runtime. Configured from Django settings (CELERY_*)."""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import worker_process_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiops_site.settings")

app = Celery("aiops_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _install_agents_step() -> None:
    from agents.celery_steps import AgentsStep

    app.steps["worker"].add(AgentsStep)


_install_agents_step()


@app.on_after_finalize.connect
def _schedule_agent_ticks(sender: Celery, **kwargs: object) -> None:
    """Each agent with a tick gets a beat entry at its own interval."""
    from agents.runtime import registered_agents
    from agents.tasks import tick_agent

    for name, cls in registered_agents().items():
        if cls.tick_seconds:
            sender.add_periodic_task(
                cls.tick_seconds,
                tick_agent.s(name),
                name=f"tick-{name}",
                expires=cls.tick_seconds,
            )


@worker_process_shutdown.connect
def _forget_dead_child_metrics(pid: int | None = None, **kwargs: object) -> None:
    # In multiprocess mode a finished prefork child must not keep reporting its gauges.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR") and pid:
        from prometheus_client import multiprocess

        from aiops_site.metrics_identity import process_identity

        multiprocess.mark_process_dead(process_identity(pid))
