"""Device tasks: thin and safe to run twice (each reminder and each receipt by policy is
recorded once per device)."""

from celery import shared_task

from . import lifecycle


@shared_task(name="devices.tasks.receipts_daily", acks_late=True)
def receipts_daily() -> dict[str, int]:
    return lifecycle.receipts_daily()
