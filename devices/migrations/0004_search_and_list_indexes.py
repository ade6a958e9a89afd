"""The console's search finds a serial number by its start in any case
(``UPPER(serial_number) LIKE 'ABC%'``) through an index, however many devices a tenant has.

PostgreSQL only, and built CONCURRENTLY (the devices table is the largest one, and writes
go on meanwhile): its ``text_pattern_ops`` makes LIKE with a prefix use the index under any
collation. The index lives in the database only, not in the model's state, so SQLite (the
demo's database) and the schema editor's table rebuilds never see an operator class they
cannot render."""

from django.db import migrations

CREATE = (
    'CREATE INDEX CONCURRENTLY IF NOT EXISTS "device_serial_search_idx" '
    'ON "devices_device" ((UPPER("serial_number"::text)) text_pattern_ops)'
)
DROP = 'DROP INDEX CONCURRENTLY IF EXISTS "device_serial_search_idx"'


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)
        schema_editor.execute('ANALYZE "devices_device"')  # the expression's statistics


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("devices", "0003_admin_list_indexes"),
    ]

    operations = [migrations.RunPython(create, drop, elidable=False)]
