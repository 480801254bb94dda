"""A small cast for knowledge tests: sightings of real-looking errors, a seeded problem."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from knowledge import services
from knowledge.models import Category, Problem

T0 = datetime(2026, 1, 31, 12, 0, 5, tzinfo=UTC)

IMPORT_TIMEOUT = "Import job 8f3a2c timed out after 300s while processing chrome bookmarks"
DUPLICATE_KEY = (
    'IntegrityError: duplicate key value violates unique constraint "bookmarks_user_url_key"'
)
REDIS_OOM = "OOM command not allowed when used memory > 'maxmemory'"


def make_problem(title: str, *, category: str = Category.OTHER, key: str = "", **fields) -> Problem:
    problem, _ = services.ensure_problem(
        fingerprint=key or f"test:{title}", title=title, category=category, **fields
    )
    return problem


@pytest.fixture
def import_problem(db) -> Problem:
    return make_problem(
        "Chrome import fails with large bookmarks file",
        category=Category.IMPORT,
        error_patterns=[IMPORT_TIMEOUT],
        services=["import-worker"],
    )


@pytest.fixture
def duplicate_problem(db) -> Problem:
    return make_problem(
        "Duplicate bookmarks after import",
        category=Category.DATA_INTEGRITY,
        error_patterns=[DUPLICATE_KEY],
        services=["import-worker"],
    )
