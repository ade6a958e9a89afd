"""Notices sent once per device (receipt reminders, receipt by policy), and a delivery date
for every device that was delivered: the daily receipt job counts its days from it.

``delivered_at`` is set by the "deliver" step; a device that reached Delivered or beyond
another way (an admin's correction, an older version) gets the time of its last move to
Delivered from its history. Every row is kept; nothing else changes."""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def delivered_at_from_history(apps, schema_editor):
    Device = apps.get_model("devices", "Device")
    DeviceEvent = apps.get_model("devices", "DeviceEvent")
    last_delivery = (
        DeviceEvent.objects.filter(device_id=OuterRef("pk"), to_status="delivered")
        .order_by("-at", "-id")
        .values("at")[:1]
    )
    (
        Device.objects.filter(delivered_at__isnull=True)
        .filter(pk__in=DeviceEvent.objects.filter(to_status="delivered").values("device_id"))
        .update(delivered_at=Subquery(last_delivery))
    )
    # Delivered with no delivery in its history: since it last changed status
    Device.objects.filter(delivered_at__isnull=True, status="delivered").update(
        delivered_at=models.F("status_changed_at")
    )


class Migration(migrations.Migration):
    dependencies = [
        ("devices", "0005_search_trigram_indexes"),
    ]

    operations = [
        migrations.CreateModel(
            name="DeviceNotice",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("receipt_reminder_2", "Receipt reminder (2 days after delivery)"),
                            ("receipt_reminder_5", "Receipt reminder (5 days after delivery)"),
                            ("auto_received", "Received automatically (company policy)"),
                        ],
                        max_length=30,
                    ),
                ),
                ("sent_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "device",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="notices",
                        to="devices.device",
                    ),
                ),
            ],
            options={
                "ordering": ["-sent_at"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("device", "kind"), name="one_device_notice_per_kind"
                    )
                ],
            },
        ),
        migrations.RunPython(delivered_at_from_history, migrations.RunPython.noop),
    ]
