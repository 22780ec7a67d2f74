"""Audit events and sign-offs are append-only, and the database says so: an UPDATE (and on
PostgreSQL a DELETE) of either table is refused whatever code issues it. Tampering then needs a
database owner disabling the trigger, which audit_verify still detects through the hash chain.

SQLite refuses updates only: Django's test flush empties tables with DELETE there (PostgreSQL
uses TRUNCATE, which row triggers do not see)."""

from django.db import migrations

TABLES = {"releases_auditevent": "audit events are append-only", "releases_signoff": "sign-offs are never changed"}

POSTGRES_FUNCTION = """
CREATE OR REPLACE FUNCTION flightdeck_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;
"""


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_FUNCTION, params=None)  # the body has a literal %
        for table, message in TABLES.items():
            schema_editor.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION flightdeck_refuse_change('{message}')"
            )
    elif vendor == "sqlite":
        for table, message in TABLES.items():
            schema_editor.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
            )


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for table in TABLES:
        if vendor == "postgresql":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        elif vendor == "sqlite":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only")
    if vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS flightdeck_refuse_change()")


class Migration(migrations.Migration):
    dependencies = [("releases", "0003_model_refinements")]

    operations = [migrations.RunPython(forwards, backwards)]
