"""The keyed audit chain and its anchored head: forged appends, deleted tails and
truncation are detected; TRUNCATE is refused; old plain-hash rows are re-chained honestly."""

from __future__ import annotations

import logging

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, transaction
from django.test import override_settings
from django.utils import timezone

from remediation import audit
from remediation.models import AuditEntry
from tests.remediation.test_audit import tamper, three_entries
from tests.support import owner_cursor

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_anchors_the_committed_head_in_redis_and_the_log(caplog):
    caplog.set_level(logging.INFO, logger="remediation.audit")

    *_, third = three_entries()

    assert audit.anchored_head() == audit.Head(third.pk, third.hash)
    assert f"{third.pk}:{third.hash}" in [getattr(r, "audit_head", "") for r in caplog.records]


def test_the_anchored_head_only_moves_forward():
    audit.anchor_head(5, "b" * 64)
    audit.anchor_head(3, "a" * 64)  # a commit arriving late

    assert audit.anchored_head() == audit.Head(5, "b" * 64)


def test_it_detects_a_forged_append_with_a_recomputed_plain_hash():
    *_, last = three_entries()
    forged = AuditEntry(at=timezone.now(), kind="run.executed", actor="mallory", data={},
                        prev_hash=last.hash)  # fmt: skip
    forged.hash = audit.plain_chain_hash(last.hash, forged.content())
    forged.save(force_insert=True)  # an INSERT is allowed; only the key makes a valid link

    _, broken = audit.verify_chain(audit.anchored_head())

    assert broken is not None and broken.entry_id == forged.pk
    assert "keyed hash" in broken.reason


def test_it_detects_a_deleted_tail_from_the_anchor():
    _, second, third = three_entries()
    tamper("DELETE FROM remediation_auditentry WHERE id = %s", [third.pk])

    assert audit.verify_chain() == (2, None)  # the shorter chain is valid on its own...
    with pytest.raises(CommandError, match=f"entry {third.pk}: anchored head is missing: the tail"):
        call_command("verify_audit")  # ...but the head anchored in Redis is gone


def test_it_detects_a_deleted_tail_from_a_head_in_the_logs(clean_redis):
    *_, third = three_entries()
    tamper("DELETE FROM remediation_auditentry WHERE id = %s", [third.pk])
    clean_redis.flushdb()  # Redis lost too: the log line still names the head

    with pytest.raises(CommandError, match="anchored head is missing"):
        call_command("verify_audit", head=f"{third.pk}:{third.hash}")


def test_the_database_refuses_truncate():
    three_entries()

    # As the owner: the runtime role has no TRUNCATE at all (test_runtime_role.py).
    with (
        owner_cursor() as cursor,
        pytest.raises(DatabaseError, match="TRUNCATE refused"),
        transaction.atomic(),
    ):
        cursor.execute("SET LOCAL aiops.allow_audit_truncate = off")
        cursor.execute("TRUNCATE remediation_auditentry")

    assert AuditEntry.objects.count() == 3


def test_it_detects_a_truncation_done_around_the_trigger():
    *_, third = three_entries()
    tamper("TRUNCATE remediation_auditentry", [])

    with pytest.raises(CommandError, match=f"entry {third.pk}: .*empty \\(truncated\\)"):
        call_command("verify_audit")


def test_a_chain_written_with_another_key_does_not_verify():
    three_entries()

    with override_settings(AUDIT_KEY="not-the-key"):
        _, broken = audit.verify_chain()

    assert broken is not None and "keyed hash" in broken.reason


def plain_chain(rows: list[AuditEntry]) -> None:
    """Rewrite rows as the pre-key version stored them (plain SHA-256)."""
    previous = audit.GENESIS_HASH
    for row in rows:
        digest = audit.plain_chain_hash(previous, row.content())
        tamper("UPDATE remediation_auditentry SET prev_hash = %s, hash = %s WHERE id = %s",
               [previous, digest, row.pk])  # fmt: skip
        previous = digest


@pytest.mark.parametrize("edited", [False, True])
def test_rechaining_old_rows_records_whether_the_plain_chain_was_intact(edited):
    rows = three_entries()
    plain_chain(rows)
    if edited:
        tamper("UPDATE remediation_auditentry SET actor = 'x' WHERE id = %s", [rows[1].pk])
    assert audit.verify_chain()[1] is not None  # plain hashes are not valid keyed links

    with owner_cursor():  # as migration 0004 runs it: by the owner
        assert audit.rechain_plain_entries() == 3

    assert audit.verify_chain(audit.anchored_head()) == (4, None)
    rechained = AuditEntry.objects.get(kind="audit.rechained")
    assert rechained.data["plain_chain_intact"] is not edited
    assert rechained.data["first_broken_entry"] == (rows[1].pk if edited else None)
