"""Django integration: one settings line.

::

    AIOPS = {"URL": "https://aiops.internal", "TOKEN": "...", "SERVICE": "bookmarks"}
    INSTALLED_APPS = [..., "aiops_sdk.django.AIOpsConfig"]
    MIDDLEWARE = ["aiops_sdk.django.AIOpsRequestMiddleware", *MIDDLEWARE]

The app (see :mod:`aiops_sdk.django.apps`) attaches the log handler to the root logger and
every non-propagating logger, hooks Celery task failures when Celery is installed, and
registers the process with the service registry when it serves (web or worker). The
middleware emits ``api.request`` per request (route label, never the raw path) and
reports a view's unhandled exception with its type and in-app frames.

Keys of ``AIOPS`` are listed in :mod:`aiops_sdk.django.conf`.
"""

from __future__ import annotations

from aiops_sdk.django.apps import AIOpsConfig, setup
from aiops_sdk.django.conf import client_from_settings, get_client, register, reset_client
from aiops_sdk.django.logs import AIOpsLogHandler, attach_logging
from aiops_sdk.django.middleware import AIOpsRequestMiddleware
from aiops_sdk.django.routes import UNMATCHED_ENDPOINT, endpoint_of, route_label

__all__ = [
    "UNMATCHED_ENDPOINT",
    "AIOpsConfig",
    "AIOpsLogHandler",
    "AIOpsRequestMiddleware",
    "attach_logging",
    "client_from_settings",
    "endpoint_of",
    "get_client",
    "register",
    "reset_client",
    "route_label",
    "setup",
]
