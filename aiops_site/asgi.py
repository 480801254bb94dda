"""ASGI entry point: HTTP through Django, WebSockets through Channels (login required),
both behind the body-size guard (``aiops_site/body_limit.py``)."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiops_site.settings")

# Django must be set up before anything imports models (consumers, routing).
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from aiops_site.body_limit import BodySizeLimit  # noqa: E402
from aiops_site.routing import websocket_urlpatterns  # noqa: E402

# Outermost: body sizes are refused before Django reads a byte, before auth and routing.
application = BodySizeLimit(
    ProtocolTypeRouter(
        {
            "http": django_asgi_app,
            "websocket": AllowedHostsOriginValidator(
                AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
            ),
        }
    ),
    default=settings.REQUEST_MAX_BODY_BYTES,
    by_prefix=settings.REQUEST_BODY_LIMITS,
)
