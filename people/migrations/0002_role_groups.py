"""Company admins manage their people's groups, budget policies, directory tokens, CSV
imports and offboarding cases."""

from django.db import migrations


def sync(apps, schema_editor):
    from companies.roles import sync_role_groups

    sync_role_groups(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("people", "0001_initial"),
        ("companies", "0017_user_directory_active"),
        ("budgets", "0004_budget_policy_group"),
    ]

    operations = [migrations.RunPython(sync, migrations.RunPython.noop)]
