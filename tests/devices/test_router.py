"""The one event router: what a partner's report or a person's button means."""

import pytest

from devices.engine import Result
from devices.lifecycle import Reported, devices_apply, devices_report, status_path
from devices.models import AUTO_RECEIVE_NOTE, DeviceEvent, DeviceStatus, Source
from notifications.models import Notification
from orders.models import OrderEvent
from tests.conftest import make_tenant
from tests.helpers import mail, place_order

S = DeviceStatus


@pytest.mark.parametrize(
    ("start", "end", "steps"),
    [
        (S.ORDERED, S.DELIVERED, ["acknowledge", "start_preparing", "ship", "deliver"]),
        (S.NOT_STARTED, S.SHIPPED, ["start_preparing", "ship"]),
        (S.PREPARING, S.ON_HOLD, ["put_on_hold"]),
        (S.ON_HOLD, S.SHIPPED, ["start_preparing", "ship"]),
        (S.SHIPPED, S.SHIPPED, []),
    ],
)
def test_a_report_further_along_takes_every_step_between(start, end, steps):
    assert status_path(start, end) == steps


@pytest.mark.parametrize(("start", "end"), [(S.SHIPPED, S.PREPARING), (S.DELIVERED, S.ORDERED)])
def test_a_report_that_goes_backwards_has_no_path(start, end):
    assert status_path(start, end) is None


def reported(order):
    return [
        Reported(d.pk, d.order_id, d.status, d.company.auto_receive_on_delivery)
        for d in order.devices.select_related("company")
    ]


def test_a_delivery_reported_where_the_company_auto_receives_is_received_by_the_system(db):
    tenant = make_tenant("auto", auto_receive=True)
    order = place_order(tenant)
    device = order.devices.get()
    result = devices_report(
        devices=reported(order), targets={device.pk: S.DELIVERED}, source=Source.POLL
    )
    device.refresh_from_db()
    assert device.status == S.RECEIVED
    assert result.transitions == 5  # four partner steps, then the system's receipt
    last = DeviceEvent.objects.filter(device=device).order_by("-id").first()
    assert (last.transition, last.note, last.actor_name) == (
        "mark_received",
        AUTO_RECEIVE_NOTE,
        "Velory",
    )
    # received already: nothing to ask of the employee
    assert not Notification.objects.filter(kind="device_delivered").exists()


def test_a_delivery_reported_elsewhere_asks_the_employee_to_mark_it_received(acme):
    order = place_order(acme)
    device = order.devices.get()
    devices_report(devices=reported(order), targets={device.pk: S.DELIVERED}, source=Source.POLL)
    device.refresh_from_db()
    assert device.status == S.DELIVERED
    assert mail(kind="device_delivered", to_email=acme.employee.email)


def test_a_cancellation_reported_goes_through_the_orders_cancellation(acme):
    order = place_order(acme)
    device = order.devices.get()
    devices_report(devices=reported(order), targets={device.pk: S.CANCELLED}, source=Source.POLL)
    device.refresh_from_db()
    assert device.status == S.CANCELLED
    assert OrderEvent.objects.filter(order=order, kind=OrderEvent.Kind.CANCELLED).exists()


def test_a_report_backwards_is_skipped_and_said_so(acme):
    order = place_order(acme)
    device = order.devices.get()
    devices_report(devices=reported(order), targets={device.pk: S.PREPARING}, source=Source.POLL)
    result = devices_report(
        devices=reported(order), targets={device.pk: S.NOT_STARTED}, source=Source.POLL
    )
    assert result.transitions == 0
    assert result.skipped == [(order.pk, "preparing → not_started is backwards")]


def test_the_same_report_twice_changes_nothing_the_second_time(acme):
    order = place_order(acme)
    device = order.devices.get()
    devices_report(devices=reported(order), targets={device.pk: S.SHIPPED}, source=Source.POLL)
    events = DeviceEvent.objects.count()
    again = devices_report(
        devices=reported(order), targets={device.pk: S.SHIPPED}, source=Source.POLL
    )
    assert again.transitions == 0 and DeviceEvent.objects.count() == events


def test_a_button_goes_to_the_use_case_that_owns_its_effects(acme):
    order = place_order(acme)
    device = order.devices.get()
    [outcome] = devices_apply(
        transition="put_on_hold",
        device_ids=[device.pk],
        actor=acme.partner_staff,
        source=Source.ADMIN,
        note="Waiting for stock",
    )
    assert outcome.result is Result.CHANGED
    assert (
        "Waiting for stock" in mail(kind="device_on_hold", to_email=acme.employee.email).body_text
    )


def test_a_button_for_another_tenants_device_is_not_found(acme, globex):
    device = place_order(globex).devices.get()
    [outcome] = devices_apply(
        transition="acknowledge", device_ids=[device.pk], actor=acme.partner_staff, source="admin"
    )
    assert outcome.result is Result.NOT_FOUND
    device.refresh_from_db()
    assert device.status == S.ORDERED
