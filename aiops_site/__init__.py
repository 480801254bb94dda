"""AI-Ops Core project package: settings, URLs, ASGI/Celery entry points, site-wide views."""

from aiops_site.celery import app as celery_app

__all__ = ["celery_app"]
