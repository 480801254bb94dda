"""Pages: login required, admin reachable, metrics exported, htmx served from our own static."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db


def test_overview_redirects_anonymous_visitors_to_login(client):
    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/")


def test_overview_shows_health_to_a_logged_in_user(client, viewer):
    client.force_login(viewer)

    response = client.get("/")

    assert response.status_code == 200
    assert b"System health" in response.content
    assert b"Database (PostgreSQL)" in response.content


def test_pages_load_htmx_from_our_static_files_not_a_cdn(client, viewer):
    client.force_login(viewer)

    html = client.get("/").content.decode()

    assert "/static/django_htmx/htmx" in html or "/static/htmx" in html
    sources = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
    assert sources and all(src.startswith("/") for src in sources)  # nothing off-site
    assert 'hx-headers=\'{"X-CSRFToken"' in html


def test_login_page_and_admin_login_render(client):
    assert client.get("/accounts/login/").status_code == 200
    admin = client.get("/admin/", follow=True)
    assert admin.status_code == 200
    assert b"Log in" in admin.content


def test_login_form_requires_csrf(viewer):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    response = strict.post("/accounts/login/", {"username": "victor", "password": "pw-victor-123"})

    assert response.status_code == 403


def test_admin_is_usable_by_a_superuser(client, admin_user):
    client.force_login(admin_user)

    response = client.get("/admin/")

    assert response.status_code == 200
    assert b"Site administration" in response.content


def test_metrics_export_django_and_database_metrics(client):
    client.get("/health")

    body = client.get("/metrics").content.decode()

    assert "django_http_requests_total_by_view_transport_method_total" in body
    assert "django_db_execute_total" in body
