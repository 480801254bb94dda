"""The HTTP API as served: the ingest edge's NinjaAPI plus the routers of layers above it.

``agents/ingest/api.py`` may not import dashboard (the layering), so the incidents router,
which returns remediation runs, is mounted here, once, when the URLconf first imports this
module (ninja refuses to attach one router twice).
"""

from __future__ import annotations

from ninja.security import SessionAuthIsStaff

from agents.ingest.api import BearerToken, api
from dashboard.api import router as incidents_router

# Read only, like knowledge: a token with the incidents scope (not rate limited) or staff.
api.add_router(
    "/v1/incidents",
    incidents_router,
    auth=[BearerToken("incidents", rate_limited=False), SessionAuthIsStaff()],
)

__all__ = ["api"]
