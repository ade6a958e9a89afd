"""Company admins and partner staff read the stuck-order alerts."""

from django.db import migrations


def sync(apps, schema_editor):
    from companies.roles import sync_role_groups

    sync_role_groups(apps)


class Migration(migrations.Migration):
    dependencies = [("orders", "0010_order_alerts"), ("companies", "0017_user_directory_active")]

    operations = [migrations.RunPython(sync, migrations.RunPython.noop)]
