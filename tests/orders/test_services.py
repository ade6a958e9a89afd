"""Order use cases: creating, shipping, delivering (auto-receive or a prompt), marking
received, changing details while allowed, registering hardware by hand."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from core.tenancy import SYSTEM
from devices import lifecycle
from devices.engine import Result, TransitionRefused
from devices.models import Device, DeviceEvent, DeviceStatus
from notifications.models import Notification
from orders import services
from orders.models import Order, OrderEvent, Shipment, ShipmentEvent
from tests.helpers import bring_to, device_in, place_order
from tests.helpers import mail as rendered_mail

pytestmark = pytest.mark.django_db
S = DeviceStatus


def test_order_makes_one_ordered_device_per_unit_and_tells_the_partner(acme, after_commit):
    with after_commit():  # a partner without an API gets the order by e-mail, after commit
        order = place_order(acme, items=3)
    devices = list(order.devices.all())
    assert len(devices) == 3 and {d.status for d in devices} == {S.ORDERED}
    assert {d.owner for d in devices} == {acme.employee}
    assert {d.partner for d in devices} == {acme.partner}
    assert DeviceEvent.objects.filter(device__order=order, to_status=S.ORDERED).count() == 3
    mail = rendered_mail(kind="order_new_partner")
    assert mail.to_email == acme.partner.support_email
    assert order.number in mail.subject


def test_partner_must_serve_the_company(acme, globex):
    with pytest.raises(ValidationError, match="does not serve"):
        services.order_create(
            employee_id=acme.employee.pk,
            partner_id=globex.partner.pk,
            lines=[services.LineSpec("X", "laptop", 1, "EUR")],
            delivery_address="x",
        )


def test_ship_needs_a_tracking_number_where_the_partner_tracks(acme):
    device = device_in(acme, S.PREPARING)
    with pytest.raises(ValidationError, match="tracking number is required"):
        lifecycle.devices_ship(
            device_ids=[device.pk], actor=acme.partner_staff, source="admin", carrier="PostNord"
        )
    device.refresh_from_db()
    assert device.status == S.PREPARING
    assert not Shipment.objects.exists()


def test_ship_without_tracking_where_the_partner_does_not_track(globex):
    device = device_in(globex, S.PREPARING)
    lifecycle.devices_ship(
        device_ids=[device.pk], actor=globex.partner_staff, source="admin", carrier="Itella"
    )
    device.refresh_from_db()
    assert device.status == S.SHIPPED and device.shipment.carrier == "Itella"


def test_ship_records_one_shipment_per_order_and_mails_the_employee_once(acme):
    order = place_order(acme, items=2)
    ids = list(order.devices.values_list("pk", flat=True))
    lifecycle.devices_advance(
        device_ids=ids, transition="start_preparing", actor=acme.partner_staff, source="admin"
    )
    lifecycle.devices_ship(
        device_ids=ids,
        actor=acme.partner_staff,
        source="admin",
        carrier="PostNord",
        tracking_number="PN1SE",
        tracking_url="https://tracking.example/PN1SE",
        expected_delivery=timezone.localdate() + timedelta(days=2),
    )
    shipment = Shipment.objects.get()
    assert set(shipment.devices.values_list("pk", flat=True)) == set(ids)
    mail = rendered_mail(kind="order_shipped")
    assert mail.recipient == acme.employee and "PN1SE" in mail.body_text
    order.refresh_from_db()
    assert order.expected_delivery == timezone.localdate() + timedelta(days=2)


def test_a_shipment_nothing_moved_onto_is_not_kept(acme):
    device = device_in(acme, S.ORDERED)  # cannot ship from Ordered
    outcomes = lifecycle.devices_ship(
        device_ids=[device.pk],
        actor=acme.partner_staff,
        source="admin",
        carrier="PostNord",
        tracking_number="PN2SE",
    )
    assert outcomes[0].result is Result.REFUSED
    assert not Shipment.objects.exists()
    assert not Notification.objects.filter(kind="order_shipped").exists()


def test_delivery_asks_the_employee_to_mark_received_when_policy_is_off(acme):
    device = device_in(acme, S.SHIPPED)
    lifecycle.devices_deliver(device_ids=[device.pk], actor=SYSTEM, source="poll")
    device.refresh_from_db()
    assert device.status == S.DELIVERED and device.delivered_at
    mail = rendered_mail(kind="device_delivered")
    assert mail.recipient == acme.employee
    assert "Mark as received" in mail.body_text
    assert device.shipment.delivered_at is not None


def test_delivery_is_received_automatically_when_policy_is_on(globex):
    device = device_in(globex, S.SHIPPED)
    lifecycle.devices_deliver(device_ids=[device.pk], actor=SYSTEM, source="poll")
    device.refresh_from_db()
    assert device.status == S.RECEIVED and device.received_on == timezone.localdate()
    auto = DeviceEvent.objects.filter(device=device).first()
    assert auto.to_status == S.RECEIVED and auto.actor is None and auto.source == "system"
    assert "company policy" in auto.note
    assert not Notification.objects.filter(kind="device_delivered").exists()


def test_hold_and_backorder_need_a_reason_and_tell_the_employee(acme):
    device = place_order(acme).devices.get()
    with pytest.raises(ValidationError, match="Say why"):
        lifecycle.devices_advance(
            device_ids=[device.pk],
            transition="put_on_hold",
            actor=acme.partner_staff,
            source="admin",
        )
    lifecycle.devices_advance(
        device_ids=[device.pk],
        transition="put_on_hold",
        actor=acme.partner_staff,
        source="admin",
        note="Waiting for approval of the colour",
    )
    mail = rendered_mail(kind="device_on_hold")
    assert "Waiting for approval of the colour" in mail.body_text


def test_owner_marks_received_with_serial_and_date(acme):
    device = device_in(acme, S.DELIVERED)
    Order.objects.filter(pk=device.order_id).update(created_at=timezone.now() - timedelta(days=5))
    yesterday = timezone.localdate() - timedelta(days=1)
    outcome = lifecycle.device_mark_received(
        device_id=device.pk, actor=acme.employee, serial_number=" C02XK1 ", received_on=yesterday
    )
    assert outcome.result is Result.CHANGED
    device.refresh_from_db()
    assert device.status == S.RECEIVED
    assert device.serial_number == "C02XK1" and device.received_on == yesterday


def test_mark_received_twice_changes_nothing_the_second_time(acme):
    device = device_in(acme, S.SHIPPED)
    lifecycle.device_mark_received(device_id=device.pk, actor=acme.employee, serial_number="A1")
    events = DeviceEvent.objects.filter(device=device).count()
    again = lifecycle.device_mark_received(
        device_id=device.pk, actor=acme.employee, serial_number="B2"
    )
    assert again.result is Result.UNCHANGED
    device.refresh_from_db()
    assert device.serial_number == "A1"
    assert DeviceEvent.objects.filter(device=device).count() == events


def test_only_the_owner_marks_received(acme):
    device = device_in(acme, S.DELIVERED)
    with pytest.raises(Device.DoesNotExist):
        lifecycle.device_mark_received(device_id=device.pk, actor=acme.colleague)
    for actor in (acme.admin, acme.partner_staff):
        with pytest.raises(TransitionRefused, match="not allowed"):
            lifecycle.device_mark_received(device_id=device.pk, actor=actor)
    device.refresh_from_db()
    assert device.status == S.DELIVERED


@pytest.mark.parametrize("status", [S.ORDERED, S.PREPARING, S.ACTIVE])
def test_mark_received_refused_outside_shipped_and_delivered(acme, status):
    device = device_in(acme, status)
    with pytest.raises(TransitionRefused):
        lifecycle.device_mark_received(device_id=device.pk, actor=acme.employee)
    device.refresh_from_db()
    assert device.status == status


def test_received_date_cannot_be_in_the_future_or_before_the_order(acme):
    device = device_in(acme, S.DELIVERED)
    with pytest.raises(ValidationError, match="future"):
        lifecycle.device_mark_received(
            device_id=device.pk,
            actor=acme.employee,
            received_on=timezone.localdate() + timedelta(days=1),
        )
    with pytest.raises(ValidationError, match="before the order date"):
        lifecycle.device_mark_received(
            device_id=device.pk,
            actor=acme.employee,
            received_on=timezone.localdate() - timedelta(days=30),
        )
    device.refresh_from_db()
    assert device.status == S.DELIVERED


@pytest.mark.parametrize("status", [S.ORDERED, S.NOT_STARTED])
def test_employee_updates_address_and_note_before_preparing(acme, status):
    order = place_order(acme)
    bring_to(acme, order.devices.get(), status)
    services.order_update_details(
        order_id=order.pk,
        actor=acme.employee,
        delivery_address="Kungsgatan 9\nStockholm",
        note="Ring 12",
    )
    order.refresh_from_db()
    assert order.delivery_address == "Kungsgatan 9\nStockholm" and order.note == "Ring 12"
    event = OrderEvent.objects.get(order=order, kind="updated")
    assert event.data["delivery_address"]["to"] == "Kungsgatan 9\nStockholm"
    mail = rendered_mail(kind="order_updated_partner")
    assert mail.to_email == acme.partner.support_email and "Kungsgatan 9" in mail.body_text


@pytest.mark.parametrize("status", [S.PREPARING, S.ON_HOLD, S.SHIPPED, S.CANCELLED])
def test_order_update_refused_once_with_the_distributor(acme, status):
    order = place_order(acme)
    bring_to(acme, order.devices.get(), status)
    with pytest.raises(TransitionRefused, match="can no longer be changed in Velory"):
        services.order_update_details(
            order_id=order.pk, actor=acme.employee, delivery_address="Elsewhere", note=""
        )
    order.refresh_from_db()
    assert order.delivery_address == "Storgatan 1\n111 22 Stockholm"
    assert not OrderEvent.objects.filter(order=order, kind="updated").exists()


def test_one_preparing_item_locks_the_whole_order(acme):
    order = place_order(acme, items=2)
    first = order.devices.first()
    lifecycle.devices_advance(
        device_ids=[first.pk],
        transition="start_preparing",
        actor=acme.partner_staff,
        source="admin",
    )
    with pytest.raises(TransitionRefused):
        services.order_update_details(
            order_id=order.pk, actor=acme.employee, delivery_address="X", note=""
        )


def test_only_the_employee_updates_their_order(acme, globex):
    order = place_order(acme)
    with pytest.raises(Order.DoesNotExist):
        services.order_update_details(
            order_id=order.pk, actor=acme.colleague, delivery_address="X", note=""
        )
    with pytest.raises(TransitionRefused, match="Only the employee"):
        services.order_update_details(
            order_id=order.pk, actor=acme.admin, delivery_address="X", note=""
        )


def test_unchanged_details_record_nothing(acme):
    order = place_order(acme, note="n")
    services.order_update_details(
        order_id=order.pk, actor=acme.employee, delivery_address=order.delivery_address, note="n"
    )
    assert not OrderEvent.objects.filter(kind="updated").exists()
    assert not Notification.objects.filter(kind="order_updated_partner").exists()


def test_company_admin_registers_hardware_for_an_employee(acme):
    device = lifecycle.device_register_manually(
        actor=acme.admin,
        owner_id=acme.employee.pk,
        name="Dell XPS 13",
        category="laptop",
        serial_number="X1",
    )
    assert device.registered_manually and device.status == S.ACTIVE
    assert device.owner == acme.employee and device.company == acme.company
    event = device.events.get()
    assert event.transition == "register" and event.actor == acme.admin


def test_registering_hardware_added_to_an_order_by_the_partner(acme):
    order = place_order(acme)
    device = lifecycle.device_register_manually(
        actor=acme.admin,
        owner_id=acme.employee.pk,
        name="USB-C dock",
        category="accessory",
        order_id=order.pk,
        status=S.RECEIVED,
    )
    assert device.order == order and device.partner == acme.partner
    assert "Added to the order by the partner" in device.events.get().note


def test_registration_is_for_company_admins_and_their_own_people(acme, globex):
    with pytest.raises(TransitionRefused):
        lifecycle.device_register_manually(
            actor=acme.employee, owner_id=acme.employee.pk, name="X", category="laptop"
        )
    with pytest.raises(TransitionRefused):
        lifecycle.device_register_manually(
            actor=acme.partner_staff, owner_id=acme.employee.pk, name="X", category="laptop"
        )
    from companies.models import User

    with pytest.raises(User.DoesNotExist):
        lifecycle.device_register_manually(
            actor=acme.admin, owner_id=globex.employee.pk, name="X", category="laptop"
        )
    with pytest.raises(Order.DoesNotExist):
        lifecycle.device_register_manually(
            actor=acme.admin,
            owner_id=acme.employee.pk,
            name="X",
            category="laptop",
            order_id=place_order(acme, employee=acme.colleague).pk,
        )
    with pytest.raises(ValidationError):
        lifecycle.device_register_manually(
            actor=acme.admin,
            owner_id=acme.employee.pk,
            name="X",
            category="laptop",
            status=S.SHIPPED,
        )
    assert not Device.objects.filter(registered_manually=True).exists()


def test_tracking_progress_is_recorded_once(acme):
    device = device_in(acme, S.SHIPPED)
    event = lifecycle.TrackingEvent(timezone.now(), "Arrived at terminal", "Malmö")
    for _ in range(2):
        lifecycle.shipment_record_progress(
            shipment_id=device.shipment_id, status_text="In transit", events=[event]
        )
    assert ShipmentEvent.objects.filter(shipment=device.shipment).count() == 1
    device.shipment.refresh_from_db()
    assert device.shipment.status_text == "In transit"
