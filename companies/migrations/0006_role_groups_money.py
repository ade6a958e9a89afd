"""Role permissions for requests, budgets and payments."""

from django.db import migrations


def sync(apps, schema_editor):
    from companies.roles import sync_role_groups

    sync_role_groups(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("companies", "0005_company_card_payments_allowed"),
        ("orders", "0002_product_picture_productrequest"),
        ("budgets", "0001_initial"),
    ]

    operations = [migrations.RunPython(sync, migrations.RunPython.noop)]
