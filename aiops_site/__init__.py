"""AI-Ops Core project package: settings, URLs, ASGI/Celery entry points, site-wide views."""

from aiops_site import metrics_identity

metrics_identity.install()  # before any metric is created (see the module)

from aiops_site.celery import app as celery_app  # noqa: E402

__all__ = ["celery_app"]
