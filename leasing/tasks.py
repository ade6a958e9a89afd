"""Leasing tasks: thin and safe to run twice (notices are recorded once per lease and
kind; a buyout completes once)."""

from celery import shared_task

from . import services


@shared_task(name="leasing.tasks.leases_daily", acks_late=True)
def leases_daily() -> dict[str, int]:
    return services.leases_daily()


@shared_task(name="leasing.tasks.settle_buyouts", acks_late=True)
def settle_buyouts() -> dict[str, int]:
    """Kept under its name for a beat schedule stored before hosted checkout: buyouts' card
    payments are now settled with every other payment (``orders.tasks.settle_card_payments``)."""
    return {}
