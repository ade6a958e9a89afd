"""Order tasks: thin, taking ids, safe to run twice."""

from dataclasses import asdict

from celery import shared_task

from . import services


@shared_task(name="orders.tasks.settle_card_payments", acks_late=True)
def settle_card_payments() -> dict[str, int]:
    """Periodic: captures and voids due, checkouts nobody reported, events not processed."""
    return services.payments_sweep()


@shared_task(name="orders.tasks.payment_decision", acks_late=True)
def payment_decision(payment_id: int) -> str:
    """Capture or void a hold at the processor (claimed: safe to run twice)."""
    return services.payment_decision_run(payment_id)


@shared_task(name="orders.tasks.process_event", acks_late=True)
def process_event(event_pk: int) -> str:
    """One stored webhook event, processed once."""
    return services.event_process(event_pk)


@shared_task(name="orders.tasks.reconcile_payments", acks_late=True)
def reconcile_payments() -> int:
    """Daily: Velory's payments and refunds against the processor's list."""
    return len(services.payments_reconcile())


@shared_task(name="orders.tasks.order_alerts", acks_late=True)
def order_alerts() -> dict[str, int]:
    """Hourly: raise the stuck-order alerts, close those of orders that moved."""
    return asdict(services.order_alerts_sweep())
