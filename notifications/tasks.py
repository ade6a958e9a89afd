"""Outbox tasks: thin wrappers over the services; both are safe to run twice (a sent row is
never claimed again)."""

from celery import shared_task

from . import services


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
