"""Role permissions for devices, orders and leases."""

from django.db import migrations


def sync(apps, schema_editor):
    from companies.roles import sync_role_groups

    sync_role_groups(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("companies", "0002_role_groups"),
        ("devices", "0002_initial"),
        ("orders", "0001_initial"),
        ("leasing", "0001_initial"),
    ]

    operations = [migrations.RunPython(sync, migrations.RunPython.noop)]
