"""Admins edit gate policies too; release managers and admins may upload test reports (portal.roles)."""

from django.db import migrations

from portal.roles import roles_sync


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0004_apitoken"),
        ("releases", "0006_gate_signoff_fields"),
    ]

    operations = [migrations.RunPython(roles_sync, migrations.RunPython.noop)]
