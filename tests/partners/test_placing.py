"""Placing approved orders with the partner: after commit, exactly once, retried with
backoff while the partner is down, flagged to the company admins when it cannot be done."""

from datetime import timedelta

import pytest
from django.utils import timezone

from notifications.models import Notification
from orders.models import DispatchStatus, Order, OrderEvent
from partners import services as partners
from partners import tasks
from tests.conftest import connect
from tests.helpers import mail as rendered_mail
from tests.helpers import place_order

pytestmark = pytest.mark.django_db


def test_approved_order_is_placed_after_commit(acme, fake_distributor, after_commit):
    connect(acme.partner, fake_distributor)
    with after_commit():
        order = place_order(acme)
        assert fake_distributor.orders_for("test-key") == []  # nothing leaves before commit
    order.refresh_from_db()
    assert order.dispatch_status == DispatchStatus.PLACED and order.partner_ref.startswith("FD-")
    assert order.tracking_open and order.next_poll_at > timezone.now()
    assert OrderEvent.objects.filter(order=order, message__contains="through its API").exists()
    assert not Notification.objects.filter(kind="order_new_partner").exists()  # no e-mail


def test_a_retried_task_places_the_order_once(acme, fake_distributor):
    connect(acme.partner, fake_distributor)
    order = place_order(acme)
    assert tasks.place_order(order.pk) == "placed"
    assert tasks.place_order(order.pk) == "skipped"
    assert partners.orders_place_due() == {}
    assert len(fake_distributor.orders_for("test-key")) == 1


def test_a_second_worker_skips_an_order_being_placed(acme, fake_distributor):
    connect(acme.partner, fake_distributor)
    order = place_order(acme)
    Order.objects.filter(pk=order.pk).update(
        dispatch_claimed_until=timezone.now() + timedelta(minutes=1)
    )
    assert partners.order_place(order.pk) == "skipped"
    assert fake_distributor.orders_for("test-key") == []


def test_partner_down_is_retried_with_backoff_then_flagged(acme, fake_distributor):
    connect(acme.partner, fake_distributor)
    fake_distributor.stop()
    order = place_order(acme)
    assert partners.order_place(order.pk) == "retry"
    order.refresh_from_db()
    assert (
        order.dispatch_status == DispatchStatus.PENDING
        and "Could not reach" in order.dispatch_error
    )
    assert order.dispatch_next_at > timezone.now()
    assert partners.orders_place_due() == {}  # not due yet: backing off
    for _ in range(partners.MAX_PLACE_ATTEMPTS - 1):
        Order.objects.filter(pk=order.pk).update(dispatch_next_at=timezone.now())
        partners.orders_place_due()
    order.refresh_from_db()
    assert order.dispatch_status == DispatchStatus.FAILED
    assert order.dispatch_attempts == partners.MAX_PLACE_ATTEMPTS
    mail = rendered_mail(kind="order_dispatch_failed")
    assert mail.recipient == acme.admin and order.number in mail.subject


def test_failed_order_is_placed_again_from_the_admin(acme, clock, login, after_commit):
    from partners.fake import FakeConfig, FakeDistributor

    down = FakeDistributor(FakeConfig(step_seconds=10, clock=clock))
    port = int(down.url.rsplit(":", 1)[1])
    connect(acme.partner, down)
    down.stop()
    order = place_order(acme)
    Order.objects.filter(pk=order.pk).update(dispatch_attempts=partners.MAX_PLACE_ATTEMPTS - 1)
    partners.order_place(order.pk)
    order.refresh_from_db()
    assert order.dispatch_status == DispatchStatus.FAILED
    up = FakeDistributor(FakeConfig(port=port, step_seconds=10, clock=clock)).start()
    try:
        client = login(acme.admin)
        page = client.get(f"/admin/orders/order/{order.pk}/change/").content.decode()
        assert 'data-testid="action-place_again"' in page
        with after_commit():
            client.post(f"/admin/orders/order/{order.pk}/act/place_again/")
        order.refresh_from_db()
        assert order.dispatch_status == DispatchStatus.PLACED
        assert len(up.orders_for("test-key")) == 1
    finally:
        up.stop()


def test_a_partner_without_an_api_gets_the_order_by_email(globex, after_commit):
    with after_commit():
        order = place_order(globex)
    order.refresh_from_db()
    assert order.dispatch_status == DispatchStatus.PLACED and not order.tracking_open
    mail = rendered_mail(kind="order_new_partner")
    assert mail.to_email == globex.partner.support_email and order.number in mail.subject


def test_a_misconfigured_partner_is_flagged_at_once(acme, fake_distributor):
    connection = connect(acme.partner, fake_distributor)
    connection.set_api_key("")
    connection.save()
    order = place_order(acme)
    assert partners.order_place(order.pk) == "failed"  # retrying cannot help
    order.refresh_from_db()
    assert (
        order.dispatch_status == DispatchStatus.FAILED and "key is not set" in order.dispatch_error
    )
    assert fake_distributor.orders_for("test-key") == []
