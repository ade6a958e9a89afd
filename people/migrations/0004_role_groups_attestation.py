"""Company admins read the attestation report."""

from django.db import migrations


def sync(apps, schema_editor):
    from companies.roles import sync_role_groups

    sync_role_groups(apps)


class Migration(migrations.Migration):
    dependencies = [("people", "0003_attestations")]

    operations = [migrations.RunPython(sync, migrations.RunPython.noop)]
