"""Partner staff see their own distributor connection (how the polling goes)."""

from django.db import migrations


def sync(apps, schema_editor):
    from companies.roles import sync_role_groups

    sync_role_groups(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("companies", "0007_role_groups_work_queue"),
        ("orders", "0004_distributor_integration"),
    ]

    operations = [migrations.RunPython(sync, migrations.RunPython.noop)]
