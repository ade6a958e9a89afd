"""Company admins see (and resolve) the payment reconciliation's differences."""

from django.db import migrations


def sync(apps, schema_editor):
    from companies.roles import sync_role_groups

    sync_role_groups(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("companies", "0012_user_email_message"),
        ("budgets", "0002_hosted_checkout"),
    ]

    operations = [migrations.RunPython(sync, migrations.RunPython.noop)]
