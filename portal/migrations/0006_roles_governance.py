"""Change managers sign CAB gates, governance officers approve weakening policy changes, pipeline
service accounts upload test reports, and release managers no longer do (portal.roles)."""

from django.db import migrations

from portal.roles import roles_sync


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0005_roles_policies_and_test_reports"),
        ("releases", "0011_policy_changes_and_evidence_supplier"),
    ]

    operations = [migrations.RunPython(roles_sync, migrations.RunPython.noop)]
