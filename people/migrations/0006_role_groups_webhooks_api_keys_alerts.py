"""The role groups once every model the roles name exists: webhook endpoints and deliveries
(notifications), the partner API's keys (partners), the stuck-order alerts (orders). It
lives here, above companies, so the kernel apps' migrations import nothing from above."""

from django.db import migrations


def sync(apps, schema_editor):
    from companies.roles import sync_role_groups

    sync_role_groups(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("people", "0005_payroll_export"),
        ("notifications", "0004_webhooks"),
        ("partners", "0004_role_groups_api_keys"),
        ("orders", "0011_role_groups_order_alerts"),
    ]

    operations = [migrations.RunPython(sync, migrations.RunPython.noop)]
