"""Order tasks: thin, taking ids, safe to run twice."""

from celery import shared_task

from . import services


@shared_task(name="orders.tasks.settle_card_payments", acks_late=True)
def settle_card_payments() -> dict[str, int]:
    """Finish card charges the gateway did not answer at submit time."""
    return services.requests_settle_payments()
