from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("releases", "0001_initial")]

    operations = [
        migrations.RunSQL(
            "CREATE TABLE upgrade_probe_row (id integer PRIMARY KEY)", "DROP TABLE upgrade_probe_row"
        )
    ]
