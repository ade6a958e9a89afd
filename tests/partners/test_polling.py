"""Polling the partner's tracking and applying it through the lifecycle services: history,
shipments, mail and auto-receive as if a person had done it; each partner version once;
quiet orders backed off; a broken partner backing off alone."""

import logging
from datetime import timedelta

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from devices import lifecycle
from devices.models import DeviceEvent, DeviceStatus
from notifications.models import Notification
from orders.models import Order
from partners import services as partners
from partners import tasks
from partners.adapters import adapter_for
from partners.models import DistributorConnection
from tests.conftest import connect
from tests.helpers import place_order

pytestmark = pytest.mark.django_db
S = DeviceStatus


def placed(tenant, items=1, n=1):
    orders = []
    for _ in range(n):
        order = place_order(tenant, items=items)
        assert partners.order_place(order.pk) == "placed"
        orders.append(order)
    return orders


def due_now(*orders):
    Order.objects.filter(pk__in=[o.pk for o in orders]).update(
        next_poll_at=timezone.now() - timedelta(seconds=1)
    )


def statuses(order):
    return sorted(order.devices.values_list("status", flat=True))


def test_the_poller_walks_the_order_through_its_lifecycle(acme, fake_distributor, clock):
    connect(acme.partner, fake_distributor)
    [order] = placed(acme, items=2)
    due_now(order)
    partners.partner_poll(acme.partner.pk)
    assert statuses(order) == [S.NOT_STARTED] * 2
    clock.advance(20)  # processing, then shipped
    due_now(order)
    report = partners.partner_poll(acme.partner.pk)
    assert report.changed == 1
    assert statuses(order) == [S.SHIPPED] * 2
    device = order.devices.first()
    history = list(
        DeviceEvent.objects.filter(device=device)
        .order_by("at", "id")
        .values_list("to_status", "source")
    )
    assert history == [
        (S.ORDERED, "system"),
        (S.NOT_STARTED, "poll"),
        (S.PREPARING, "poll"),
        (S.SHIPPED, "poll"),
    ]
    assert device.shipment.tracking_number.startswith("FD") and device.shipment.events.exists()
    assert Notification.objects.filter(kind="order_shipped", recipient=acme.employee).count() == 1
    clock.advance(10)
    due_now(order)
    partners.partner_poll(acme.partner.pk)
    assert statuses(order) == [S.DELIVERED] * 2  # Acme: the employee marks it received
    assert Notification.objects.filter(kind="device_delivered").count() == 2
    order.refresh_from_db()
    assert not order.tracking_open  # arrived: no more polling


def test_auto_receive_policy_applies_to_polled_deliveries(globex, fake_distributor, clock):
    connect(globex.partner, fake_distributor)
    [order] = placed(globex)
    clock.advance(35)
    due_now(order)
    partners.partner_poll(globex.partner.pk)
    assert statuses(order) == [S.RECEIVED]


def test_a_version_is_applied_once(acme, fake_distributor, clock):
    connect(acme.partner, fake_distributor)
    [order] = placed(acme)
    clock.advance(25)
    adapter = adapter_for(acme.partner)
    update = adapter.fetch_updates([order.pk])
    partners.tracking_apply(acme.partner.pk, update.updates, [order.pk])
    events = DeviceEvent.objects.count()
    again = partners.tracking_apply(acme.partner.pk, update.updates, [order.pk])
    assert again.stale == 1 and again.transitions == 0
    assert DeviceEvent.objects.count() == events


def test_a_status_that_would_go_backwards_is_ignored(acme, fake_distributor, clock):
    connect(acme.partner, fake_distributor)
    [order] = placed(acme)
    device = order.devices.get()
    from tests.helpers import bring_to

    bring_to(acme, device, S.SHIPPED)
    due_now(order)
    report = partners.partner_poll(acme.partner.pk)  # the partner still says "received"
    assert report.changed == 1
    assert statuses(order) == [S.SHIPPED]


def test_a_bad_entry_changes_nothing_for_its_order_only(acme, clock):
    from partners.fake import FakeConfig, FakeDistributor

    fake = FakeDistributor(
        FakeConfig(step_seconds=10, clock=clock, unknown_status_rate=0.5, seed=3)
    ).start()
    try:
        connect(acme.partner, fake)
        orders = placed(acme, n=10)
        clock.advance(15)
        due_now(*orders)
        report = partners.partner_poll(acme.partner.pk)
        assert report.rejected > 0 and report.changed == 10 - report.rejected
        moved = [o for o in orders if statuses(o) == [S.PREPARING]]
        untouched = [o for o in orders if statuses(o) == [S.ORDERED]]
        assert len(moved) == report.changed and len(untouched) == report.rejected
    finally:
        fake.stop()


def test_quiet_orders_are_polled_less_and_less(acme, fake_distributor):
    connect(acme.partner, fake_distributor)
    [order] = placed(acme)
    intervals = []
    for _ in range(4):
        due_now(order)
        partners.partner_poll(acme.partner.pk)
        order.refresh_from_db()
        intervals.append(order.poll_interval)
    assert intervals == [60, 120, 240, 480]


def test_unchanged_orders_cost_no_statement_each(acme, fake_distributor):
    """Polling 5 or 40 quiet orders takes the same statements: the batch's, not the orders'."""
    connect(acme.partner, fake_distributor)
    counts = []
    for n in (5, 40):
        orders = placed(acme, n=n)
        due_now(*orders)
        partners.partner_poll(acme.partner.pk)  # first answer: they change (received)
        due_now(*orders)
        with CaptureQueriesContext(db) as ctx:
            report = partners.partner_poll(acme.partner.pk)
        assert report.polled == n and report.changed == 0
        counts.append(len(ctx))
        Order.objects.filter(pk__in=[o.pk for o in orders]).update(tracking_open=False)
    assert counts[0] == counts[1]


def test_changed_orders_cost_statements_per_transition_not_per_order(acme, fake_distributor, clock):
    connect(acme.partner, fake_distributor)
    counts = []
    for n in (3, 30):
        orders = placed(acme, n=n)
        clock.advance(25)  # all shipped: three transitions each
        due_now(*orders)
        with CaptureQueriesContext(db) as ctx:
            partners.partner_poll(acme.partner.pk)
        assert all(statuses(o) == [S.SHIPPED] for o in orders)
        counts.append(len(ctx))
        Order.objects.filter(pk__in=[o.pk for o in orders]).update(tracking_open=False)
    assert counts[1] <= counts[0] + 2, counts


def test_answers_are_applied_together_and_a_bad_batch_fails_alone(
    acme, fake_distributor, clock, monkeypatch
):
    """The answers of several calls go into one transaction; when that transaction fails,
    each call's answer is applied on its own, so only the bad one's orders wait."""
    from partners.services import polling

    connection = connect(acme.partner, fake_distributor)
    connection.batch_size = 1  # one order a call: three calls, one group
    connection.save()
    orders = placed(acme, n=3)
    clock.advance(15)
    due_now(*orders)
    bad = orders[1].pk
    applies = []
    original = polling.tracking_apply

    def apply(partner_id, updates, polled, now=None):
        applies.append(sorted(polled))
        if bad in polled:
            raise RuntimeError("a bug in one answer")
        return original(partner_id, updates, polled, now=now)

    monkeypatch.setattr(polling, "tracking_apply", apply)
    report = partners.partner_poll(acme.partner.pk)
    assert applies[0] == sorted(o.pk for o in orders)  # all three at once first
    assert (report.changed, report.failed) == (2, 1)
    assert [statuses(o) for o in orders] == [[S.PREPARING], [S.ORDERED], [S.PREPARING]]


def test_a_broken_partner_backs_off_alone(acme, globex, fake_distributor, clock, caplog):
    from partners.fake import FakeConfig, FakeDistributor

    broken = FakeDistributor(FakeConfig(step_seconds=10, clock=clock)).start()
    try:
        connect(acme.partner, broken)
        connect(globex.partner, fake_distributor, key="globex-key")
        [bad] = placed(acme)
        broken.config.error_rate = 1.0  # placing worked; from now on every call fails
        [good] = placed(globex)
        clock.advance(15)
        due_now(bad, good)
        with caplog.at_level(logging.INFO, logger="velory.distributors"):
            assert set(tasks.poll_tracking()) == {acme.partner.pk, globex.partner.pk}
        bad_conn = DistributorConnection.objects.get(partner=acme.partner)
        good_conn = DistributorConnection.objects.get(partner=globex.partner)
        assert (
            bad_conn.backoff_until > timezone.now() and "failed on its side" in bad_conn.last_error
        )
        assert good_conn.backoff_until is None and good_conn.last_success_at
        assert statuses(good) == [S.PREPARING]
        assert acme.partner.pk not in partners.partners_due()
        lines = [
            r.getMessage() for r in caplog.records if r.getMessage().startswith("poll partner=")
        ]
        assert any("failed=1" in line for line in lines) and any(
            "changed=1" in line for line in lines
        )
    finally:
        broken.stop()


def test_partner_staff_see_how_their_polling_goes(acme, globex, fake_distributor, login):
    connect(acme.partner, fake_distributor)
    connect(globex.partner, fake_distributor, key="other")
    placed(acme, n=2)
    client = login(acme.partner_staff)
    page = client.get("/admin/partners/distributorconnection/").content.decode()
    assert acme.partner.name in page and globex.partner.name not in page
    conn = DistributorConnection.objects.get(partner=acme.partner)
    detail = client.get(f"/admin/partners/distributorconnection/{conn.pk}/change/").content.decode()
    assert "test-key" not in detail and "Set on" in detail
    other = DistributorConnection.objects.get(partner=globex.partner)
    assert (
        client.get(f"/admin/partners/distributorconnection/{other.pk}/change/").status_code == 404
    )


@pytest.mark.parametrize(
    ("start", "end", "steps"),
    [
        (S.ORDERED, S.SHIPPED, ["acknowledge", "start_preparing", "ship"]),
        (S.NOT_STARTED, S.DELIVERED, ["start_preparing", "ship", "deliver"]),
        (S.ON_HOLD, S.SHIPPED, ["start_preparing", "ship"]),
        (S.ORDERED, S.BACKORDERED, ["acknowledge", "backorder"]),
        (S.PREPARING, S.CANCELLED, ["cancel"]),
        (S.SHIPPED, S.PREPARING, None),
        (S.PREPARING, S.ON_HOLD, ["put_on_hold"]),
        (S.PREPARING, S.BACKORDERED, ["backorder"]),
        (S.DELIVERED, S.DELIVERED, []),
        (S.SHIPPED, S.CANCELLED, None),
    ],
)
def test_the_steps_from_one_status_to_another(start, end, steps):
    assert lifecycle.status_path(start, end) == steps
