"""The groups behind the roles, with their permissions (see companies/roles.py)."""

from django.db import migrations


def sync(apps, schema_editor):
    from companies.roles import sync_role_groups

    sync_role_groups(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("companies", "0001_initial"),
        ("notifications", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(sync, migrations.RunPython.noop)]
