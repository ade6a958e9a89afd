"""The console's search finds devices by any part of their name or serial number through
trigram indexes (core.search_indexes), at a million devices."""

from django.db import migrations

from core.search_indexes import trigram_indexes


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("devices", "0004_search_and_list_indexes"),
    ]

    operations = [
        trigram_indexes(
            "devices_device",
            {"device_name_trgm_idx": "name", "device_serial_trgm_idx": "serial_number"},
        ),
    ]
