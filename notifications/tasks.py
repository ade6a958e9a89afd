"""Outbox tasks: thin wrappers over the services; both are safe to run twice (a sent row is
never claimed again)."""

from celery import shared_task

from . import services, webhooks


@shared_task(name="notifications.tasks.send_notifications", acks_late=True)
def send_notifications(notification_ids: list[int]) -> dict[str, int]:
    """Send the rows just committed. A row that fails stays pending with its error and a
    backoff time; the periodic job below retries it, so this task itself never loops."""
    counts = {"sent": 0, "skipped": 0, "error": 0}
    for pk in notification_ids:
        counts[services.notification_send(pk)] += 1
    return counts


@shared_task(name="notifications.tasks.send_pending_notifications", acks_late=True)
def send_pending_notifications() -> dict[str, int]:
    """Periodic: send what is still pending (broker down at commit, mail server refused)."""
    return services.notifications_send_pending()


@shared_task(name="notifications.tasks.send_webhooks", acks_late=True)
def send_webhooks(endpoint_id: int, event_ids: list[str]) -> dict[str, int]:
    """After commit: one endpoint's deliveries of these events. A failure leaves the row
    pending with its backoff; the sweeper below retries it."""
    return webhooks.webhooks_send_events(endpoint_id, event_ids)


@shared_task(name="notifications.tasks.send_due_webhooks", acks_late=True)
def send_due_webhooks(
    endpoint_id: int, delivery_ids: list[int], wait_for_due: bool = True
) -> dict[str, int]:
    """One endpoint's deliveries handed out by the sweeper (due only) or a replay (now)."""
    return webhooks.webhooks_send_ids(endpoint_id, delivery_ids, wait_for_due)


@shared_task(name="notifications.tasks.sweep_webhooks", acks_late=True)
def sweep_webhooks() -> dict[str, int]:
    """Periodic: deliveries never enqueued (broker down at commit) or due for a retry."""
    return webhooks.webhooks_send_due()
