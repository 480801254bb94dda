"""Fixtures of the SDK tests: a fake ingest server (see ``fake_ingest.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.sdk.fake_ingest import FakeIngest


@pytest.fixture
def ingest() -> Iterator[FakeIngest]:
    server = FakeIngest()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()
