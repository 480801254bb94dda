"""The real target's fixture: a Wagtail site of its own, reporting to the live ingest API.

Each test gets a fresh copy of the site's files and database (``harness.build_site``,
``database.py``), started in its own process; it is stopped and its database dropped after.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from agents.models import ApiToken
from tests.realapp.harness import SERVICE, WagtailSite, build_site

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def site(live_server, tmp_path) -> Iterator[WagtailSite]:
    _, token = ApiToken.issue("wagtail-demo", SERVICE)
    app = WagtailSite(
        build_site(ROOT / "var" / "realapp", tmp_path / "site"),
        aiops_url=live_server.url, token=token, redis_url=settings.REDIS_URL,
    )  # fmt: skip
    app.start()
    yield app
    app.close()
