"""WebSocket routes of every app, gathered in one list for ``asgi.py``."""

from __future__ import annotations

from dashboard.routing import websocket_urlpatterns as dashboard_routes

websocket_urlpatterns = [*dashboard_routes]
