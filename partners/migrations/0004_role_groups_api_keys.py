"""Partner staff make and revoke their partner's push API keys in the admin."""

from django.db import migrations


def sync(apps, schema_editor):
    from companies.roles import sync_role_groups

    sync_role_groups(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("partners", "0003_partner_api_keys"),
        ("people", "0005_payroll_export"),
        ("orders", "0009_work_queue_orders"),
        ("leasing", "0005_return_reason_and_deadlines"),
        ("budgets", "0004_budget_policy_group"),
        ("devices", "0006_device_notices_and_delivered_at"),
        ("companies", "0017_user_directory_active"),
    ]

    operations = [migrations.RunPython(sync, migrations.RunPython.noop)]
