"""Partner staff get the work queue."""

from django.db import migrations


def sync(apps, schema_editor):
    from companies.roles import sync_role_groups

    sync_role_groups(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("companies", "0006_role_groups_money"),
        ("orders", "0003_work_queue"),
    ]

    operations = [migrations.RunPython(sync, migrations.RunPython.noop)]
