"""The Celery app. JSON only; a task is acknowledged after it ran (acks_late) and given back
to the queue when its worker dies, so every task is written to be safe to run twice."""

import gc
import os

from celery import Celery
from celery.schedules import crontab
from celery.signals import worker_process_init

from core.timers import scaled

# Never a silent fallback to the development settings (DEBUG on, a known key): without an
# explicit module the worker runs on production's, which refuse to start without their
# secrets. `make run` sets velory.settings.local.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "velory.settings.production")

app = Celery("velory")
app.config_from_object("django.conf:settings", namespace="CELERY")

# The longest task (a polling batch, a mail batch) is bounded by TASK_TIME_LIMIT; Redis gives
# an unacknowledged task to another worker only after visibility_timeout, which must be
# well above that or a slow task would run twice at once.
TASK_SOFT_TIME_LIMIT = 120
TASK_TIME_LIMIT = 180
# Twice the longest task: a task of a worker that died is handed out again after this,
# not after an hour (no task is published with a countdown, which this would also bound).
VISIBILITY_TIMEOUT = 2 * TASK_TIME_LIMIT

app.conf.update(
    accept_content=["json"],
    task_serializer="json",
    result_serializer="json",
    task_ignore_result=True,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_soft_time_limit=TASK_SOFT_TIME_LIMIT,
    task_time_limit=TASK_TIME_LIMIT,
    # A broker that does not answer must never hang a web request: publishing fails fast
    # (the outbox keeps the mail; the periodic job sends it later).
    broker_connection_timeout=0.5,
    broker_connection_retry_on_startup=True,
    task_publish_retry=False,
    worker_hijack_root_logger=False,
    worker_send_task_events=False,
    beat_scheduler="django_celery_beat.schedulers:DatabaseScheduler",
)


@worker_process_init.connect
def _freeze_start_up_objects(**_kwargs) -> None:
    """A worker process starts with Django, the models and the URL conf in memory: moved out
    of the garbage collector's reach (``gc.freeze``), they are not walked again by every
    collection a big batch triggers (measured: 15-20% of a polling batch's CPU)."""
    gc.collect()
    gc.freeze()


# Every periodic job, in one place. django-celery-beat's DatabaseScheduler copies these into
# its tables at start-up, where admins can see, pause or re-time them. The sweepers'
# intervals are recovery timers (docs/operations.md), written through core.timers.scaled.
app.conf.beat_schedule = {
    "outbox-send-pending": {
        "task": "notifications.tasks.send_pending_notifications",
        "schedule": scaled(60.0),
    },
    # Webhooks never enqueued (broker down) or due for a retry (notifications/webhooks.py).
    "webhooks-sweep": {"task": "notifications.tasks.sweep_webhooks", "schedule": scaled(30.0)},
    "refunds-retry": {"task": "budgets.tasks.retry_refunds", "schedule": scaled(60.0)},
    "card-payments-settle": {"task": "orders.tasks.settle_card_payments", "schedule": scaled(60.0)},
    "orders-dispatch-due": {"task": "partners.tasks.place_due", "schedule": scaled(30.0)},
    "tracking-poll": {"task": "partners.tasks.poll_tracking", "schedule": scaled(30.0)},
    # The partner API's stored answers (Idempotency-Key) are kept a week.
    "push-requests-purge": {
        "task": "partners.tasks.purge_push_requests",
        "schedule": crontab(hour=4, minute=10),
    },
    # Orders stuck at the partner or the carrier: raised, and closed once they move.
    "order-alerts": {"task": "orders.tasks.order_alerts", "schedule": scaled(3600.0)},
    "payments-reconcile": {
        "task": "orders.tasks.reconcile_payments",
        "schedule": crontab(hour=3, minute=30),
    },
    "leases-daily": {
        "task": "leasing.tasks.leases_daily",
        "schedule": crontab(hour=7, minute=0),
    },
    # Delivered devices waiting for "Mark as received": reminders, receipt by policy.
    "receipts-daily": {
        "task": "devices.tasks.receipts_daily",
        "schedule": crontab(hour=7, minute=15),
    },
    # Leavers' cases: settle, chase, escalate, close. Attestation: ask, remind.
    "offboarding-daily": {
        "task": "people.tasks.offboarding_daily",
        "schedule": crontab(hour=7, minute=30),
    },
    "attestations-daily": {
        "task": "people.tasks.attestations_daily",
        "schedule": crontab(hour=7, minute=45),
    },
    "budgets-renew": {
        "task": "budgets.tasks.renew_budgets",
        "schedule": crontab(hour=2, minute=10),
    },
}

if app.conf.broker_url.startswith(("redis://", "rediss://")):
    app.conf.broker_transport_options = {
        "visibility_timeout": VISIBILITY_TIMEOUT,
        "socket_timeout": 2,
        "socket_connect_timeout": 0.1,  # a request never waits on a dead broker
        "max_retries": 0,
        "retry_on_timeout": False,
    }

app.autodiscover_tasks()
