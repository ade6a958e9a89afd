"""The partner tasks moved from orders to partners: beat's stored schedule follows at once
(beat would re-sync it at start-up, but a worker rejects the old names until then)."""

from django.db import migrations

RENAMED = {
    "orders.tasks.dispatch_due": "partners.tasks.place_due",
    "orders.tasks.poll_tracking": "partners.tasks.poll_tracking",
    "orders.tasks.dispatch_order": "partners.tasks.place_order",
    "orders.tasks.poll_partner": "partners.tasks.poll_partner",
}


def _rename(apps, names: dict[str, str]) -> None:
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for old, new in names.items():
        PeriodicTask.objects.filter(task=old).update(task=new)


def forward(apps, schema_editor):
    _rename(apps, RENAMED)


def backward(apps, schema_editor):
    _rename(apps, {new: old for old, new in RENAMED.items()})


class Migration(migrations.Migration):
    dependencies = [
        ("partners", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forward, backward)]
