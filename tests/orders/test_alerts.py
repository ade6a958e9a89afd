"""Stuck-order alerts with the clock moved: raised once to the company admin and the
partner, on both dashboards, and closed by themselves once the order moves."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from devices import lifecycle
from devices.models import Device, DeviceStatus, Source
from notifications.models import Notification
from orders.models import OrderAlert, Shipment, ShipmentEvent
from orders.services import order_alerts_sweep
from tests.helpers import device_in

S = DeviceStatus


def later(days: float):
    return timezone.now() + timedelta(days=days)


def test_an_order_preparing_too_long_is_raised_once_and_closes_when_it_ships(acme, globex):
    device = device_in(acme, S.PREPARING)
    device_in(globex, S.PREPARING)
    assert order_alerts_sweep(later(4)).opened == 0
    report = order_alerts_sweep(later(6))
    assert report.opened == 2
    alert = OrderAlert.objects.get(order=device.order)
    assert alert.kind == "preparing" and alert.partner == acme.partner
    told = set(
        Notification.objects.filter(kind="order_stuck").values_list("recipient_id", flat=True)
    )
    assert {acme.admin.pk, acme.partner_staff.pk, globex.admin.pk} <= told
    assert acme.employee.pk not in told
    assert order_alerts_sweep(later(7)).opened == 0  # once
    assert Notification.objects.filter(kind="order_stuck", recipient=acme.admin).count() == 1
    lifecycle.devices_ship(
        device_ids=[device.pk],
        actor=acme.partner_staff,
        source=Source.ADMIN,
        carrier="PostNord",
        tracking_number="PN1",
    )
    assert order_alerts_sweep(later(7)).closed == 1
    alert.refresh_from_db()
    assert alert.closed_at is not None


def test_a_parcel_without_carrier_movement_is_raised_until_it_moves(acme):
    device = device_in(acme, S.SHIPPED)
    shipment = Shipment.objects.get(pk=Device.objects.get(pk=device.pk).shipment_id)
    assert order_alerts_sweep(later(3)).opened == 0
    assert order_alerts_sweep(later(5)).opened == 1
    assert OrderAlert.objects.get().kind == "stalled"
    ShipmentEvent.objects.create(shipment=shipment, at=later(4.5), description="In transit")
    assert order_alerts_sweep(later(5)).closed == 1


def test_each_side_sees_its_own_alerts_on_its_dashboard(acme, globex, login):
    device_in(acme, S.PREPARING)
    device_in(globex, S.PREPARING)
    order_alerts_sweep(later(6))
    assert OrderAlert.objects.visible_to(acme.admin).count() == 1
    assert OrderAlert.objects.visible_to(acme.partner_staff).count() == 1
    assert OrderAlert.objects.visible_to(acme.employee).count() == 0
    for who in (acme.admin, acme.partner_staff):
        page = login(who).get("/admin/").content.decode()
        assert "Orders stuck (late or not moving)" in page
    listing = login(acme.admin).get("/admin/orders/orderalert/?open=yes").content.decode()
    assert "Preparing longer than 5 days" in listing
    other = OrderAlert.objects.get(company=globex.company)
    assert login(acme.admin).get(f"/admin/orders/orderalert/{other.pk}/change/").status_code == 404
