"""The console's search finds people (and through them their devices, orders and leases)
by any part of their name or e-mail through trigram indexes (core.search_indexes)."""

from django.db import migrations

from core.search_indexes import trigram_indexes


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("companies", "0014_role_groups_work_queue_orders"),
    ]

    operations = [
        trigram_indexes(
            "companies_user",
            {"user_full_name_trgm_idx": "full_name", "user_email_trgm_idx": "email"},
        ),
    ]
