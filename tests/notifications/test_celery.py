"""Celery as configured: a broker that does not answer never hangs or fails a request, and
with Redis a real worker sends the outbox."""

import socket
import time

import pytest
from django.db import transaction

from core.jobs import enqueue
from notifications.models import Notification
from notifications.services import notify
from velory.celery import app


def test_app_is_json_only_and_late_acking():
    conf = app.conf
    assert conf.accept_content == ["json"] and conf.task_serializer == "json"
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_soft_time_limit < conf.task_time_limit
    if conf.broker_url.startswith("redis"):
        visibility = conf.broker_transport_options["visibility_timeout"]
        # longer than any task may run (never handed out twice while it runs), and short
        # enough that a dead worker's task is handed out again within minutes
        assert conf.task_time_limit < visibility <= 600


@pytest.fixture(params=["refuses", "never-answers"])
def dead_broker(request):
    """A broker that refuses connections, or one that accepts them and then says nothing."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    if request.param == "never-answers":
        listener.listen(16)  # the kernel completes the handshake; nobody ever replies
    else:
        listener.close()
    old = app.conf.broker_url, app.conf.broker_transport_options, app.conf.task_always_eager
    app.conf.broker_url = f"redis://127.0.0.1:{port}/0"
    app.conf.broker_transport_options = {
        **app.conf.broker_transport_options,
        "socket_connect_timeout": 2,
        "socket_timeout": 2,
    }
    app.conf.task_always_eager = False
    reset_pool()
    yield
    listener.close()
    app.conf.broker_url, app.conf.broker_transport_options, app.conf.task_always_eager = old
    reset_pool()


def reset_pool():
    """Forget every pooled broker connection, so the next publish uses the current URL."""
    from kombu import pools

    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


@pytest.mark.django_db
def test_dead_broker_neither_fails_nor_hangs_a_request(dead_broker, login, acme):
    from notifications.tasks import send_notifications

    started = time.monotonic()
    assert enqueue(send_notifications, [1]) is False
    assert time.monotonic() - started < 5


@pytest.mark.django_db(transaction=True)
def test_dead_broker_keeps_the_mail_in_the_outbox(dead_broker, client, acme):
    started = time.monotonic()
    response = client.post("/accounts/password-reset/", {"email": acme.employee.email})
    assert response.status_code == 302
    assert time.monotonic() - started < 5
    row = Notification.objects.get(kind="password_reset")
    assert row.status == Notification.Status.PENDING  # kept for the periodic job


@pytest.mark.django_db(transaction=True)
def test_real_worker_on_redis_sends_the_outbox(settings, smtp, acme):
    """Not eager: the task goes through Redis to a worker thread, which sends by SMTP."""
    if not settings.CELERY_BROKER_URL.startswith("redis"):
        pytest.skip("needs REDIS_URL (CI sets it); the eager path is covered elsewhere")
    from celery.contrib.testing.worker import start_worker

    app.conf.task_always_eager = False
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            with transaction.atomic():
                row = notify(
                    kind="invite",
                    recipient=acme.employee,
                    context={"user": acme.employee, "link": "x"},
                    dedup_key="redis:1",
                )
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and not smtp.messages:
                time.sleep(0.1)
    finally:
        app.conf.task_always_eager = True
        reset_pool()  # the test worker closes the app's pools when it stops
    row.refresh_from_db()
    assert row.status == Notification.Status.SENT
    assert len(smtp.messages) == 1
