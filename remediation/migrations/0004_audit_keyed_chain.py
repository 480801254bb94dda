"""The audit log becomes a keyed chain, and TRUNCATE is refused too.

* A BEFORE TRUNCATE trigger raises, except for a superuser session that sets
  ``aiops.allow_audit_truncate = on`` (the test settings do, because Django empties tables
  with TRUNCATE between tests; a superuser could disable the trigger anyway).
* Existing rows, hashed with plain SHA-256, are re-chained with the HMAC key
  (``settings.AUDIT_KEY``). The plain chain is verified first and the verdict recorded in an
  ``audit.rechained`` entry (see ``remediation.audit.rechain_plain_entries``). Set
  ``AIOPS_AUDIT_KEY`` before migrating if production is to use its own key.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

FORWARD = """
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

CREATE TRIGGER remediation_audit_no_truncate
    BEFORE TRUNCATE ON remediation_auditentry
    FOR EACH STATEMENT EXECUTE FUNCTION remediation_audit_refuse_truncate();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS remediation_audit_no_truncate ON remediation_auditentry;
DROP FUNCTION IF EXISTS remediation_audit_refuse_truncate();
"""


def rechain(apps: Any, schema_editor: Any) -> None:
    from remediation.audit import rechain_plain_entries

    rechain_plain_entries(apps.get_model("remediation", "AuditEntry"))


class Migration(migrations.Migration):
    dependencies = [("remediation", "0003_autonomy_default_up_to_medium")]

    operations = [
        migrations.RunSQL(FORWARD, BACKWARD),
        migrations.RunPython(rechain, migrations.RunPython.noop),
    ]
