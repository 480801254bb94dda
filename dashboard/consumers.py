"""Live status over WebSockets. The channel layer only repaints screens; it is never the record."""

from __future__ import annotations

import json
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from dashboard.live import APPROVERS_GROUP, DASHBOARD_GROUP, READONLY_GROUP, render_panels
from dashboard.panels import PANELS
from dashboard.roles import can_approve


class StatusConsumer(AsyncWebsocketConsumer):
    """Pushes panel partials (HTML, swapped out-of-band by element id) to logged-in users.

    Anonymous connections are closed. On connect the screen gets every panel at once, so a
    browser that reconnects after a server restart shows the current state straight away."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.can_approve = await database_sync_to_async(can_approve)(user)
        role_group = APPROVERS_GROUP if self.can_approve else READONLY_GROUP
        self.joined = [DASHBOARD_GROUP, role_group]
        for group in self.joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        html = await database_sync_to_async(render_panels)(PANELS, can_approve=self.can_approve)
        await self.send(text_data=html)

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Screens only listen; whatever they send is ignored."""

    async def dashboard_html(self, message: dict[str, Any]) -> None:
        await self.send(text_data=message["html"])

    async def status_update(self, message: dict[str, Any]) -> None:
        """Structured status for non-HTML clients (kept for earlier callers)."""
        await self.send(text_data=json.dumps(message["payload"]))
