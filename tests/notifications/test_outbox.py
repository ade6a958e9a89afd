"""The outbox against a real SMTP server on 127.0.0.1 (aiosmtpd): each message is sent
exactly once, whatever retries; a server that is down or refuses loses nothing."""

import socket
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from notifications import services, tasks
from notifications.models import Notification
from notifications.services import notify

pytestmark = pytest.mark.django_db


def queue_invite(user, key="invite:1"):
    return notify(
        kind="invite", recipient=user, context={"user": user, "link": "https://x/y"}, dedup_key=key
    )


def test_mail_is_sent_after_commit_through_smtp(smtp, acme, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        row = queue_invite(acme.employee)
        assert smtp.messages == []  # nothing leaves before commit
    assert len(callbacks) == 1
    row.refresh_from_db()
    assert row.status == Notification.Status.SENT and row.sent_at and row.attempts == 1
    [message] = smtp.parsed()
    assert message["To"] == acme.employee.email
    assert "invited you to Velory" in message["Subject"]
    kinds = [part.get_content_type() for part in message.walk()]
    assert "text/plain" in kinds and "text/html" in kinds


def test_rolled_back_change_sends_nothing(smtp, acme, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        try:
            with transaction.atomic():
                queue_invite(acme.employee)
                raise RuntimeError("the change failed")
        except RuntimeError:
            pass
    assert callbacks == []
    assert not Notification.objects.exists()
    assert smtp.messages == []


def test_same_dedup_key_is_one_row_and_one_mail(smtp, acme, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = queue_invite(acme.employee, key="same")
        second = queue_invite(acme.employee, key="same")
    assert first.pk == second.pk
    assert Notification.objects.count() == 1
    assert len(smtp.messages) == 1


def test_a_retried_task_sends_nothing_more(smtp, acme):
    row = queue_invite(acme.employee)
    assert tasks.send_notifications([row.pk]) == {"sent": 1, "skipped": 0, "error": 0}
    # The worker died before acknowledging: the broker hands the task out again.
    assert tasks.send_notifications([row.pk]) == {"sent": 0, "skipped": 1, "error": 0}
    assert tasks.send_pending_notifications() == {"sent": 0, "skipped": 0, "error": 0}
    assert len(smtp.messages) == 1


def test_two_senders_at_once_send_once(smtp, acme):
    """While one sender holds the row, another one skips it."""
    row = queue_invite(acme.employee)
    assert services._claim(row.pk, due_only=False)  # sender A took it
    assert services.notification_send(row.pk) == "skipped"  # sender B
    assert smtp.messages == []


def test_server_down_keeps_the_row_pending_with_its_error(acme, settings):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 2
    row = queue_invite(acme.employee)
    assert services.notification_send(row.pk) == "error"
    row.refresh_from_db()
    assert row.status == Notification.Status.PENDING
    assert row.attempts == 1
    assert "ConnectionRefusedError" in row.last_error
    assert row.next_attempt_at > timezone.now()
    assert row.claimed_until is None


def test_refused_mail_is_retried_by_the_periodic_job_and_sent_once(smtp, acme):
    smtp.refuse = True
    row = queue_invite(acme.employee)
    assert services.notification_send(row.pk) == "error"
    row.refresh_from_db()
    assert "550" in row.last_error
    # Not due yet: the periodic job leaves it alone during the backoff.
    assert tasks.send_pending_notifications()["sent"] == 0
    smtp.refuse = False
    Notification.objects.filter(pk=row.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    assert tasks.send_pending_notifications() == {"sent": 1, "skipped": 0, "error": 0}
    assert tasks.send_pending_notifications()["sent"] == 0
    row.refresh_from_db()
    assert row.status == Notification.Status.SENT and row.attempts == 2 and row.last_error == ""
    assert len(smtp.messages) == 1


def test_row_never_handed_to_the_broker_is_sent_by_the_periodic_job(smtp, acme, settings):
    """Redis was down at commit: the row waits, then the periodic job sends it."""
    row = queue_invite(acme.employee)  # no on_commit run: as if publishing had failed
    assert tasks.send_pending_notifications()["sent"] == 0  # not due yet: the task may come
    Notification.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())
    assert tasks.send_pending_notifications()["sent"] == 1
    assert len(smtp.messages) == 1


def test_gives_up_after_max_attempts_and_marks_failed(smtp, acme, settings):
    settings.OUTBOX_MAX_ATTEMPTS = 2
    smtp.refuse = True
    row = queue_invite(acme.employee)
    services.notification_send(row.pk)
    Notification.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())
    services.notification_send(row.pk, wait_for_due=True)
    row.refresh_from_db()
    assert row.status == Notification.Status.FAILED and row.attempts == 2


def test_a_sender_that_died_is_replaced_after_its_claim_expires(smtp, acme):
    row = queue_invite(acme.employee)
    Notification.objects.filter(pk=row.pk).update(
        claimed_until=timezone.now() - timedelta(seconds=1), attempts=1
    )
    assert services.notification_send(row.pk) == "sent"
    assert len(smtp.messages) == 1


def test_message_id_is_stable_per_dedup_key(smtp, acme):
    row = queue_invite(acme.employee)
    services.notification_send(row.pk)
    assert services._message_id(row) == smtp.parsed()[0]["Message-ID"].strip()


def test_backoff_doubles_and_is_capped():
    assert [services.backoff_seconds(n) for n in (1, 2, 3, 4)] == [60, 120, 240, 480]
    assert services.backoff_seconds(30) == 3600


def test_failed_mail_is_sent_again_from_the_admin_by_its_company_admin(
    smtp, acme, globex, settings, login, after_commit
):
    settings.OUTBOX_MAX_ATTEMPTS = 1
    smtp.refuse = True
    row = queue_invite(acme.employee)
    services.notification_send(row.pk)
    row.refresh_from_db()
    assert row.status == Notification.Status.FAILED
    smtp.refuse = False
    # Another company's admin cannot touch it.
    assert services.notifications_resend(actor=globex.admin, notification_ids=[row.pk]) == 0
    with after_commit():
        response = login(acme.admin).post(
            "/admin/notifications/notification/",
            {"action": "send_again", "_selected_action": [row.pk]},
            follow=True,
        )
    assert "queued to be sent again" in response.content.decode()
    row.refresh_from_db()
    assert row.status == Notification.Status.SENT and len(smtp.messages) == 1


@pytest.mark.django_db(transaction=True)
def test_a_dropped_connection_after_the_smtp_hand_off_does_not_send_twice(smtp, acme, monkeypatch):
    """The mail server took the message, then the UPDATE that records it failed (the
    database connection dropped). Before, the task raised and the row went out again once
    its claim ran out; now the write is tried again in place."""
    real, calls = services._write_sent, []

    def flaky(pk):
        calls.append(pk)
        if len(calls) == 1:
            from django.db import OperationalError

            raise OperationalError("server closed the connection unexpectedly")
        real(pk)

    monkeypatch.setattr(services, "_write_sent", flaky)
    monkeypatch.setattr(services.time, "sleep", lambda s: None)
    row = queue_invite(acme.employee)  # sent at once, after its (auto)commit
    row.refresh_from_db()
    assert row.status == Notification.Status.SENT and len(calls) == 2
    # even once the claim would have run out, nothing goes out again
    Notification.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())
    assert services.notifications_send_pending() == {"sent": 0, "skipped": 0, "error": 0}
    assert len(smtp.messages) == 1


def test_the_claim_outlasts_one_smtp_conversation_and_no_more(settings):
    settings.EMAIL_TIMEOUT = 10
    assert 20 < services.claim_seconds() <= 60


def test_a_backlog_drains_in_several_batches_in_one_run(smtp, acme):
    for i in range(7):
        queue_invite(acme.employee, key=f"backlog:{i}")
    Notification.objects.update(next_attempt_at=timezone.now() - timedelta(minutes=1))
    assert services.notifications_send_pending(limit=3) == {"sent": 7, "skipped": 0, "error": 0}
    assert len(smtp.messages) == 7
