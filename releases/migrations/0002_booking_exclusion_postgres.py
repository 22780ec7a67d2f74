"""On PostgreSQL the database itself refuses two overlapping approved bookings of an exclusive
(capacity 1) environment. SQLite has no exclusion constraints; there the booking service serialises
writers (BEGIN IMMEDIATE) and checks capacity."""

from django.db import migrations

CREATE = """
CREATE EXTENSION IF NOT EXISTS btree_gist;
ALTER TABLE releases_booking ADD CONSTRAINT booking_exclusive_no_overlap EXCLUDE USING gist (
    environment_id WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&
) WHERE (status = 'approved' AND exclusive);
"""
DROP = "ALTER TABLE releases_booking DROP CONSTRAINT IF EXISTS booking_exclusive_no_overlap;"


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("releases", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
