import os

from django.db import migrations


def insert_or_fail(apps, schema_editor):
    if os.environ.get("FLIGHTDECK_TEST_MIGRATION_FAILS"):
        raise RuntimeError("this migration fails on purpose (FLIGHTDECK_TEST_MIGRATION_FAILS)")
    schema_editor.execute("INSERT INTO upgrade_probe_row (id) VALUES (1)")


class Migration(migrations.Migration):
    dependencies = [("upgrade_probe", "0001_probe_table")]

    operations = [migrations.RunPython(insert_or_fail, migrations.RunPython.noop)]
