"""The partner's lease list (by partner, by end date) reads an index instead of every
lease. Built CONCURRENTLY on PostgreSQL (writes go on meanwhile); SQLite, the demo's
database, gets the same index the plain way."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class AddIndexConcurrentlyWherePossible(AddIndexConcurrently):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return migrations.AddIndex.database_forwards(
            self, app_label, schema_editor, from_state, to_state
        )

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return migrations.AddIndex.database_backwards(
            self, app_label, schema_editor, from_state, to_state
        )


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("leasing", "0003_arrangement_limits"),
    ]

    operations = [
        AddIndexConcurrentlyWherePossible(
            model_name="lease",
            index=models.Index(fields=["partner", "ends_on", "-id"], name="lease_partner_ends_idx"),
        ),
    ]
