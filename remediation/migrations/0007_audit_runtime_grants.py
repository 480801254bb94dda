"""The app's runtime role may read and append audit entries, nothing more.

Pinned here, not only in the embedded bootstrap, so every deployment gets it: the role in
``DATABASE_URL`` (``settings.DATABASE_RUNTIME_ROLE``) keeps ``SELECT`` and ``INSERT`` on
the audit table and loses ``UPDATE``, ``DELETE``, ``TRUNCATE`` (and ``REFERENCES``,
``TRIGGER``), whatever a default privilege gave it. It is not the owner either, so it cannot
``ALTER TABLE ... DISABLE TRIGGER``. Skipped when the migrating role *is* the runtime role
(a single-role deployment, which check ``aiops.W007`` reports): an owner can grant itself
anything back.

The TRUNCATE trigger now lets the table's owner through as well as a superuser, both only
with ``aiops.allow_audit_truncate = on`` (the test settings): tests empty their tables as
the owner, and the owner could disable the trigger anyway.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import migrations

TRUNCATE_GUARD = """
CREATE OR REPLACE FUNCTION remediation_audit_refuse_truncate() RETURNS trigger AS $$
BEGIN
    IF (current_setting('is_superuser') = 'on'
        OR pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = TG_RELID),
                       'MEMBER'))
       AND coalesce(current_setting('aiops.allow_audit_truncate', true), '') = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'remediation_auditentry is append-only (TRUNCATE refused)'
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""

SUPERUSER_ONLY_GUARD = """
CREATE OR REPLACE FUNCTION remediation_audit_refuse_truncate() RETURNS trigger AS $$
BEGIN
    IF current_setting('is_superuser') = 'on'
       AND coalesce(current_setting('aiops.allow_audit_truncate', true), '') = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'remediation_auditentry is append-only (TRUNCATE refused)'
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


def pin_runtime_grants(apps: Any, schema_editor: Any) -> None:
    role = settings.DATABASE_RUNTIME_ROLE
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT current_user, EXISTS (SELECT FROM pg_roles WHERE rolname = %s)",
                       [role])  # fmt: skip
        migrating_as, role_exists = cursor.fetchone()
    if not role or not role_exists or role == migrating_as:
        return
    grantee = schema_editor.quote_name(role)
    table = schema_editor.quote_name("remediation_auditentry")
    schema_editor.execute(f"GRANT SELECT, INSERT ON {table} TO {grantee}")
    schema_editor.execute(
        f"REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON {table} FROM {grantee}, PUBLIC"
    )
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence('remediation_auditentry', 'id')")
        [sequence] = cursor.fetchone()
    if sequence:
        schema_editor.execute(f"GRANT USAGE, SELECT ON SEQUENCE {sequence} TO {grantee}")


class Migration(migrations.Migration):
    dependencies = [("remediation", "0006_rule_cause_exception_dry_run")]

    operations = [
        migrations.RunSQL(TRUNCATE_GUARD, SUPERUSER_ONLY_GUARD),
        migrations.RunPython(pin_runtime_grants, migrations.RunPython.noop),
    ]
