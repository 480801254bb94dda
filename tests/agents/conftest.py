"""Fixtures of the agents app's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agents.ingest import tokens


@pytest.fixture
def fresh_token_cache() -> Iterator[None]:
    """Tokens are cached per process; each test starts from the database's truth."""
    tokens.clear_token_cache()
    yield
    tokens.clear_token_cache()
