"""On PostgreSQL, make audit events append-only in the database too, not only in the ORM."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION compliance_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'compliance_auditevent is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS compliance_auditevent_append_only ON compliance_auditevent;
CREATE TRIGGER compliance_auditevent_append_only
    BEFORE UPDATE OR DELETE ON compliance_auditevent
    FOR EACH ROW EXECUTE FUNCTION compliance_auditevent_append_only();
"""
DROP = """
DROP TRIGGER IF EXISTS compliance_auditevent_append_only ON compliance_auditevent;
DROP FUNCTION IF EXISTS compliance_auditevent_append_only();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("compliance", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
