"""WSGI entry point, for extra ingest processes only: ``gunicorn aiops_site.wsgi -w N``.

The ``web`` process (uvicorn, ``asgi.py``) serves everything, pages and WebSockets included.
Under ASGI every Django request pays for its sync middleware and view being run in a thread
made for that request; measured here (``docs/scaling.md``) that is about 4 ms of CPU per
request under uvicorn and about 1.6 ms under gunicorn's sync workers, 40 % of the ingest's
cost at 500 events a request. The ingest endpoints (``/api/v1/events``, ``/logs``,
``/alertmanager``) are stateless and refuse oversized bodies themselves (413), so a load
balancer may send them to gunicorn processes on as many cores or hosts as needed.
"""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiops_site.settings")

application = get_wsgi_application()
