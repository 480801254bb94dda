"""The audit log: append-only in PostgreSQL, hash-chained, and tampering detected."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, transaction

from remediation import audit
from remediation.models import AuditEntry
from tests.support import owner_cursor

pytestmark = pytest.mark.django_db(transaction=True)


def three_entries() -> list[AuditEntry]:
    return [
        audit.record("test.entry", run=n, n=n, detail={"b": 1, "a": [1.5, "x"]}) for n in (1, 2, 3)
    ]


def test_each_entry_chains_onto_the_previous_one():
    first, second, third = three_entries()

    assert first.prev_hash == audit.GENESIS_HASH
    assert second.prev_hash == first.hash and third.prev_hash == second.hash
    assert audit.verify_chain() == (3, None)


def test_the_database_refuses_updates_and_deletes_even_from_the_owner():
    """The trigger, behind the grants: the runtime role is refused before it
    (tests/site/test_database_roles.py), the table's owner by it."""
    [entry, *_] = three_entries()

    with owner_cursor():
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            AuditEntry.objects.filter(pk=entry.pk).update(actor="mallory")
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            AuditEntry.objects.filter(pk=entry.pk).delete()

    assert AuditEntry.objects.get(pk=entry.pk).actor == "system"


def tamper(sql: str, params: list) -> None:
    """What the table's owner (or a superuser) could do around the trigger; the app's
    runtime role cannot (tests/remediation/test_runtime_role.py)."""
    with owner_cursor() as cursor:
        cursor.execute("ALTER TABLE remediation_auditentry DISABLE TRIGGER USER")
        try:
            cursor.execute(sql, params)
        finally:
            cursor.execute("ALTER TABLE remediation_auditentry ENABLE TRIGGER USER")


def test_verify_audit_reports_the_first_edited_row():
    _, second, _ = three_entries()
    tamper("UPDATE remediation_auditentry SET actor = 'mallory' WHERE id = %s", [second.pk])

    checked, broken = audit.verify_chain()

    assert broken is not None and broken.entry_id == second.pk
    assert "edited" in broken.reason
    with pytest.raises(CommandError, match=f"broken at entry {second.pk}"):
        call_command("verify_audit")


def test_verify_audit_reports_a_deleted_row():
    _, second, third = three_entries()
    tamper("DELETE FROM remediation_auditentry WHERE id = %s", [second.pk])

    _, broken = audit.verify_chain()

    assert broken is not None and broken.entry_id == third.pk


def test_verify_audit_says_intact(capsys):
    three_entries()

    call_command("verify_audit")

    assert "intact: 3 entries" in capsys.readouterr().out
