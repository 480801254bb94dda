"""`check --deploy` warns while the audit chain's key is only derived from SECRET_KEY."""

from __future__ import annotations

from aiops_site.checks import check_audit_key


def test_it_warns_without_an_audit_key(monkeypatch):
    monkeypatch.delenv("AIOPS_AUDIT_KEY", raising=False)

    assert [message.id for message in check_audit_key()] == ["aiops.W001"]


def test_it_is_quiet_with_an_audit_key(monkeypatch):
    monkeypatch.setenv("AIOPS_AUDIT_KEY", "k" * 40)

    assert check_audit_key() == []
