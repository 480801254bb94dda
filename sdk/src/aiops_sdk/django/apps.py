"""``INSTALLED_APPS = [..., "aiops_sdk.django.AIOpsConfig"]``: the one settings line.

On ``ready`` (or by calling :func:`setup` yourself) the app checks ``settings.AIOPS``, then:

- attaches the log handler to the root logger and every non-propagating logger
  (``AIOPS["LOGGING"]``, default True);
- with Celery installed, reports task failures with their exception and re-attaches the
  handler after the worker sets up its logging (``AIOPS["CELERY"]``, default True);
- registers this process with the service registry when it serves, web or worker, never
  in ``migrate`` and other commands (``AIOPS["REGISTER"]``: False, True, or the arguments
  of ``register``; default True, needs ``URL``).
"""

from __future__ import annotations

import importlib.util
from typing import Any

from django.apps import AppConfig

from aiops_sdk.django.conf import aiops_settings, get_client, register
from aiops_sdk.django.logs import attach_logging
from aiops_sdk.process import is_serving


def setup() -> dict[str, Any]:
    """Wire logging, Celery and registration as ``settings.AIOPS`` says; returns what it did."""
    config = aiops_settings()
    done: dict[str, Any] = {"logging": [], "celery": False, "registered": False}
    if config.get("LOGGING", True):
        done["logging"] = attach_logging()
    if config.get("CELERY", True) and importlib.util.find_spec("celery") is not None:
        from aiops_sdk import celery

        celery.connect(get_client, reattach_logging=attach_logging)
        done["celery"] = True
    registration = config.get("REGISTER", True)
    if registration and config.get("URL") and is_serving(role=config.get("ROLE")):
        done["registered"] = register(**(registration if isinstance(registration, dict) else {}))
    return done


class AIOpsConfig(AppConfig):
    name = "aiops_sdk"
    label = "aiops_sdk"
    verbose_name = "AI-Ops Core SDK"

    def ready(self) -> None:
        setup()
