"""API tokens: stored hashed, shown once, revocable, scoped, used-at tracked cheaply."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from agents.ingest import tokens
from agents.models import ApiToken

pytestmark = pytest.mark.django_db

EVENT = {
    "type": "user.activity",
    "payload": {"user_id": "u1", "action": "login"},
}


@pytest.fixture(autouse=True)
def fresh_token_cache():
    tokens.clear_token_cache()
    yield
    tokens.clear_token_cache()


def post_event(client, plaintext: str):
    return client.post(
        "/api/v1/events",
        EVENT,
        content_type="application/json",
        headers={"Authorization": f"Bearer {plaintext}"},
    )


def test_it_stores_only_the_hash():
    token, plaintext = ApiToken.issue("web pods", "bookmarks")

    token.refresh_from_db()
    assert token.token_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert plaintext.startswith("aiops_")
    assert plaintext.startswith(token.prefix)
    stored = ApiToken.objects.filter(pk=token.pk).values().get()
    assert plaintext not in {str(v) for v in stored.values()}


def test_it_authenticates_the_issued_plaintext(client):
    _, plaintext = ApiToken.issue("web pods", "bookmarks")

    assert post_event(client, plaintext).status_code == 202


def test_it_refuses_a_token_with_the_right_prefix_but_wrong_secret(client):
    token, plaintext = ApiToken.issue("web pods", "bookmarks")
    forged = token.prefix + "x" * (len(plaintext) - len(token.prefix))

    response = post_event(client, forged)

    assert response.status_code == 401
    assert response.json()["detail"] == "unknown or revoked token"


def test_it_refuses_a_revoked_token(client):
    token, plaintext = ApiToken.issue("web pods", "bookmarks")
    token.revoke()

    response = post_event(client, plaintext)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_revocation_reaches_a_token_already_cached(
    client, clean_redis, django_capture_on_commit_callbacks
):
    token, plaintext = ApiToken.issue("web pods", "bookmarks")
    assert post_event(client, plaintext).status_code == 202  # now cached in this process

    with django_capture_on_commit_callbacks(execute=True):
        assert tokens.revoke_token(token) is True

    assert post_event(client, plaintext).status_code == 401
    assert clean_redis.xlen("events:user.activity") == 1


def test_revoking_twice_records_the_first_time():
    token, _ = ApiToken.issue("web pods", "bookmarks")
    assert token.revoke() is True
    first = token.revoked_at

    assert ApiToken.objects.get(pk=token.pk).revoke() is False
    token.refresh_from_db()
    assert token.revoked_at == first


def test_it_records_last_use_at_most_once_a_minute(client):
    token, plaintext = ApiToken.issue("web pods", "bookmarks")

    post_event(client, plaintext)
    token.refresh_from_db()
    first_use = token.last_used_at
    post_event(client, plaintext)
    token.refresh_from_db()

    assert first_use is not None
    assert token.last_used_at == first_use


def test_it_records_use_again_after_a_minute(client):
    token, plaintext = ApiToken.issue("web pods", "bookmarks")
    an_hour_ago = timezone.now() - timedelta(hours=1)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=an_hour_ago)

    post_event(client, plaintext)

    token.refresh_from_db()
    assert token.last_used_at > an_hour_ago + timedelta(minutes=59)


def test_a_scoped_token_is_refused_elsewhere_with_403(client):
    _, plaintext = ApiToken.issue("alerts only", "prometheus", scopes=["alertmanager"])

    response = post_event(client, plaintext)

    assert response.status_code == 403
    assert "events" in response.json()["detail"]


def test_create_token_command_prints_the_token_once():
    out, err = StringIO(), StringIO()

    call_command("create_token", "--service", "bookmarks", "--name", "ci", stdout=out, stderr=err)

    plaintext = out.getvalue().strip()
    token = ApiToken.objects.get(service="bookmarks", name="ci")
    assert token.token_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert plaintext not in err.getvalue()


def test_admin_shows_a_new_token_once(client, admin_user):
    client.force_login(admin_user)

    response = client.post(
        "/admin/agents/apitoken/add/",
        {"name": "web pods", "service": "bookmarks", "scopes": "[]"},
        follow=True,
    )

    assert response.status_code == 200
    token = ApiToken.objects.get(name="web pods")
    shown = re.findall(re.escape(token.prefix) + r"[\w-]+", response.content.decode())
    assert len(shown) == 1
    assert token.token_hash == hashlib.sha256(shown[0].encode()).hexdigest()
    assert shown[0] not in client.get("/admin/agents/apitoken/").content.decode()


def test_admin_revoke_action_revokes_the_selected_tokens(client, admin_user):
    token, _ = ApiToken.issue("web pods", "bookmarks")
    client.force_login(admin_user)

    response = client.post(
        "/admin/agents/apitoken/",
        {"action": "revoke_tokens", "_selected_action": [token.pk]},
        follow=True,
    )

    assert response.status_code == 200
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert "revoked" in client.get("/admin/agents/apitoken/").content.decode()
