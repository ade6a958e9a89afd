"""Order tasks: thin, taking ids, safe to run twice (placing claims the order; polling
claims the partner and applies each partner version once)."""

from celery import shared_task

from velory.tasks import enqueue

from . import services
from .services import partners


@shared_task(name="orders.tasks.settle_card_payments", acks_late=True)
def settle_card_payments() -> dict[str, int]:
    """Finish card charges the gateway did not answer at submit time."""
    return services.requests_settle_payments()


@shared_task(name="orders.tasks.dispatch_order", acks_late=True)
def dispatch_order(order_id: int) -> str:
    """Place one approved order with its partner (after the approval committed)."""
    return partners.order_dispatch(order_id)


@shared_task(name="orders.tasks.dispatch_due", acks_late=True)
def dispatch_due() -> dict[str, int]:
    """Periodic: retry placing orders whose backoff has passed."""
    return partners.orders_dispatch_due()


@shared_task(name="orders.tasks.poll_tracking", acks_late=True)
def poll_tracking() -> dict[int, int]:
    """Periodic: polling tasks for every partner with orders due, one per chunk of them,
    the partners' tasks interleaved so that a slow or broken partner never holds up the
    others. Returns how many tasks each partner got."""
    due = partners.partners_due()
    tasks = {
        partner_id: min(-(-count // partners.POLL_CHUNK), partners.MAX_TASKS_PER_PARTNER)
        for partner_id, count in due.items()
    }
    for round_ in range(max(tasks.values(), default=0)):
        for partner_id, n in tasks.items():
            if round_ < n:
                enqueue(poll_partner, partner_id)
    return tasks


@shared_task(name="orders.tasks.poll_partner", acks_late=True)
def poll_partner(partner_id: int) -> dict:
    return partners.partner_poll(partner_id).__dict__
