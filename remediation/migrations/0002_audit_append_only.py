"""The audit log is append-only in the database itself: UPDATE and DELETE raise.

Not TRUNCATE: the test suite empties tables with TRUNCATE between tests. Tampering by a
superuser who disables the trigger is what the hash chain (``manage.py verify_audit``)
detects.
"""

from __future__ import annotations

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION remediation_audit_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'remediation_auditentry is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER remediation_audit_append_only
    BEFORE UPDATE OR DELETE ON remediation_auditentry
    FOR EACH ROW EXECUTE FUNCTION remediation_audit_refuse_change();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS remediation_audit_append_only ON remediation_auditentry;
DROP FUNCTION IF EXISTS remediation_audit_refuse_change();
"""


class Migration(migrations.Migration):
    dependencies = [("remediation", "0001_initial")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
