"""Huge uploads to the real Wagtail site: refused by Django, seen and diagnosed as oversized work.

Form posts past ``DATA_UPLOAD_MAX_MEMORY_SIZE`` are answered 400 by Django before any view
runs (the CSRF check reads the body); the SDK middleware reports each as an error with its
exception type, so the diagnostic agent names the cause class from the exception alone.
"""

from __future__ import annotations

import time

import pytest

from tests.realapp.harness import Operations, verdict

pytestmark = pytest.mark.django_db(transaction=True)


def test_huge_uploads_to_a_wagtail_site_are_diagnosed_as_oversized_work(site):
    ops = Operations()
    site.start_traffic()
    ops.pump(35)  # onboarding

    start = time.time()
    site.huge_uploads(count=6, megabytes=5)
    ops.pump(15)

    found = verdict(start, time.time(), "oversized-work", grace=0)
    assert found["detected_after"] is not None and found["detected_after"] <= 60, found
    assert found["diagnoses"] == 1 and 1 <= found["problems"] <= 3, found
    assert found["right"], found
    refused = [status for at, status, _ in site.responses if at >= start and status >= 400]
    assert refused == [], refused  # the ordinary traffic went on unharmed
