"""Live status over WebSockets. The channel layer only repaints screens; it is never the record."""

from __future__ import annotations

from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer

DASHBOARD_GROUP = "dashboard"


class StatusConsumer(AsyncJsonWebsocketConsumer):
    """Pushes status updates to logged-in operators; anonymous connections are closed."""

    groups: list[str] = []

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        await self.channel_layer.group_add(DASHBOARD_GROUP, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(DASHBOARD_GROUP, self.channel_name)

    async def status_update(self, message: dict[str, Any]) -> None:
        await self.send_json(message["payload"])
