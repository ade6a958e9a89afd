"""Company admins handle leases, leasing arrangements and buyouts; partner staff see the
leases and buyouts of the devices they supplied."""

from django.db import migrations


def sync(apps, schema_editor):
    from companies.roles import sync_role_groups

    sync_role_groups(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("companies", "0009_company_buyout_payment"),
        ("leasing", "0002_lease_choices_buyouts_notices"),
    ]

    operations = [migrations.RunPython(sync, migrations.RunPython.noop)]
