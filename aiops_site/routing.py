"""WebSocket routes of every app, gathered in one list for ``asgi.py``."""

from __future__ import annotations

from agents.routing import websocket_urlpatterns as agent_routes

websocket_urlpatterns = [*agent_routes]
