from django.db import migrations

from portal.roles import roles_sync


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0001_initial"),
        ("releases", "0001_initial"),
        ("integrations", "0002_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(roles_sync, migrations.RunPython.noop)]
