"""Return deadlines follow the reason a device goes back (``leasing.models.return_due``):
the lease's end, a leased replacement's delivery or a leaver's exit, plus the company's
return grace days, instead of the arrangement's days from the click.

Every row is kept. Returns under way get their reason: "replacement" where an approved
request replaced the device, else "lease_end". Their deadline only ever moves later: to the
lease's end plus the grace days (or the replacement's delivery plus the grace days, where
it was delivered), where that is later than the one they were given; reminders already sent
for a deadline that moved go again before the new one. ``return_days`` stays (the demo
data and the arrangement's page still write it) but no longer decides a deadline."""

import datetime

import django.core.validators
from django.db import migrations, models
from django.db.models import Min
from django.utils import timezone


def reasons_and_later_deadlines(apps, schema_editor):
    Lease = apps.get_model("leasing", "Lease")
    LeaseNotice = apps.get_model("leasing", "LeaseNotice")
    ProductRequest = apps.get_model("orders", "ProductRequest")
    returning = Lease.objects.filter(status="active", choice="return", return_reason="")
    replaced = dict(
        ProductRequest.objects.filter(
            replaces_device__lease__in=returning, order__isnull=False
        )
        .values_list("replaces_device_id")
        .annotate(delivered=Min("order__devices__delivered_at"))
    )
    moved = []
    for lease in returning.select_related("device__company").iterator():
        grace = datetime.timedelta(days=lease.device.company.return_grace_days)
        if lease.device_id in replaced:
            lease.return_reason = "replacement"
            delivered = replaced[lease.device_id]
            since = timezone.localdate(delivered) if delivered else lease.ends_on
        else:
            lease.return_reason = "lease_end"
            since = lease.ends_on
        later = since + grace
        if lease.return_due_on is None or later > lease.return_due_on:
            lease.return_due_on = later
            moved.append(lease.pk)
        lease.save(update_fields=["return_reason", "return_due_on"])
    LeaseNotice.objects.filter(
        lease_id__in=moved, kind__in=["return_soon", "return_overdue"]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("leasing", "0004_search_and_list_indexes"),
        ("companies", "0016_identity_and_lifecycle"),
        ("orders", "0009_work_queue_orders"),
    ]

    operations = [
        migrations.AddField(
            model_name="lease",
            name="return_reason",
            field=models.CharField(
                blank=True,
                choices=[
                    ("lease_end", "The lease ends"),
                    ("replacement", "Replaced by a new leased device"),
                    ("leaver", "The employee leaves the company"),
                ],
                default="",
                max_length=12,
            ),
        ),
        migrations.AlterField(
            model_name="leasingarrangement",
            name="return_days",
            field=models.PositiveSmallIntegerField(
                default=21,
                help_text="No longer used: a return is due the company's “days to return a "
                "device” after the lease ends (or a replacement is delivered, or the employee "
                "leaves).",
                validators=[
                    django.core.validators.MinValueValidator(1),
                    django.core.validators.MaxValueValidator(365),
                ],
            ),
        ),
        migrations.RunPython(reasons_and_later_deadlines, migrations.RunPython.noop),
    ]
