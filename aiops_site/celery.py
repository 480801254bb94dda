"""The Celery application: the agents' runtime. Configured from Django settings (CELERY_*)."""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import worker_process_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiops_site.settings")

app = Celery("aiops_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_shutdown.connect
def _forget_dead_child_metrics(pid: int | None = None, **kwargs: object) -> None:
    # In multiprocess mode a finished prefork child must not keep reporting its gauges.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR") and pid:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
