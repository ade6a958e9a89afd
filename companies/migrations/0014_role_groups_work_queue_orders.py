"""Partner staff see the work queue by order."""

from django.db import migrations


def sync(apps, schema_editor):
    from companies.roles import sync_role_groups

    sync_role_groups(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("companies", "0013_role_groups_payment_mismatches"),
        ("orders", "0009_work_queue_orders"),
    ]

    operations = [migrations.RunPython(sync, migrations.RunPython.noop)]
