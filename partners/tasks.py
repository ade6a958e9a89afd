"""Partner tasks: thin, taking ids, safe to run twice (placing claims the order; polling
claims the partner's orders and applies each partner version once)."""

from celery import shared_task

from core.jobs import enqueue

from . import services


@shared_task(name="partners.tasks.place_order", acks_late=True)
def place_order(order_id: int) -> str:
    """Place one approved order with its partner (after the approval committed)."""
    return services.order_place(order_id)


@shared_task(name="partners.tasks.place_due", acks_late=True)
def place_due() -> dict[str, int]:
    """Periodic: retry placing orders whose backoff has passed."""
    return services.orders_place_due()


@shared_task(name="partners.tasks.poll_tracking", acks_late=True)
def poll_tracking() -> dict[int, int]:
    """Periodic: polling tasks for every partner with orders due, one per chunk of them,
    the partners' tasks interleaved so that a slow or broken partner never holds up the
    others. Returns how many tasks each partner got."""
    due = services.partners_due()
    tasks = {
        partner_id: min(-(-count // services.POLL_CHUNK), services.MAX_TASKS_PER_PARTNER)
        for partner_id, count in due.items()
    }
    for round_ in range(max(tasks.values(), default=0)):
        for partner_id, n in tasks.items():
            if round_ < n:
                enqueue(poll_partner, partner_id)
    return tasks


@shared_task(name="partners.tasks.poll_partner", acks_late=True)
def poll_partner(partner_id: int) -> dict:
    return services.partner_poll(partner_id).__dict__


@shared_task(name="partners.tasks.purge_push_requests", acks_late=True)
def purge_push_requests() -> int:
    """Daily: forget the partner API's stored answers older than a week."""
    from .services.pushing import push_requests_purge

    return push_requests_purge()
