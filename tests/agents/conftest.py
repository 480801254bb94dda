"""Fixtures of the agents app's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agents import ingest


@pytest.fixture
def fresh_token_cache() -> Iterator[None]:
    """Tokens are cached per process; each test starts from the database's truth."""
    ingest.clear_token_cache()
    yield
    ingest.clear_token_cache()
