"""The monitor's endpoint labels for senders that post raw paths (curl, translators).

The SDK labels paths before they leave a service (``aiops_sdk.paths``); the monitor collapses
ids again for everyone else, by the same rule, so one endpoint is one series whoever sent it.
"""

from __future__ import annotations

import pytest

from agents.monitor.series import normalise_endpoint
from aiops_sdk.paths import normalise_path

RAW_PATHS = [
    "/api/bookmarks/42",
    "/api/bookmarks/42/edit",
    "/api/imports/0f8fad5b-d9cb-469f-a165-70867728950e/status",
    "/api/reports/2026-01-31",
    "/api/blobs/deadbeef0123",
    "/api/users/ada@example.org/bookmarks",
    "/api/uploads/01ARZ3NDEKTSV4RRFFQ69G5FAV",
]


@pytest.mark.parametrize("path", RAW_PATHS)
def test_a_raw_path_becomes_the_label_the_sdk_gives_it(path):
    assert "{id}" in normalise_endpoint(path)
    assert normalise_endpoint(path) == normalise_path(path)


@pytest.mark.parametrize(
    "label",
    ["/api/bookmarks/<int:pk>/", "/items/{id}", "/api/v2/search/", "<unmatched>", "/"],
)
def test_route_labels_stay_as_they_came(label):
    assert normalise_endpoint(label) == label


def test_the_query_string_goes_and_the_label_is_bounded():
    assert normalise_endpoint("/api/search?q=42") == "/api/search"
    assert len(normalise_endpoint("/api/" + "words/" * 100)) == 150
