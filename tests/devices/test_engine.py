"""The transition engine: set-based writes, history, idempotency, refusals."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.tenancy import SYSTEM
from devices.engine import (
    Result,
    TransitionRefused,
    available_transitions,
    device_transition,
    devices_transition,
)
from devices.models import Device, DeviceEvent, DeviceStatus
from orders.models import Shipment
from tests.helpers import device_in, place_order

pytestmark = pytest.mark.django_db
S = DeviceStatus


def writes(queries):
    return [q["sql"].split()[0] for q in queries if q["sql"].split()[0] in ("UPDATE", "INSERT")]


@pytest.mark.parametrize("count", [1, 50])
def test_bulk_transition_costs_the_same_statements_for_1_or_50_devices(acme, count):
    order = place_order(acme, items=count)
    ids = list(order.devices.values_list("pk", flat=True))
    with CaptureQueriesContext(connection) as ctx:
        outcomes = devices_transition(
            device_ids=ids, transition="acknowledge", actor=acme.partner_staff, source="admin"
        )
    assert all(o.result is Result.CHANGED for o in outcomes)
    # one locking SELECT, one UPDATE for all, one INSERT of the history rows, one UPDATE of
    # the owners' profile version (Your Details' cache key), and one look for the webhook
    # endpoints that want to hear of it (none here: no INSERT of deliveries)
    selects = [q for q in ctx.captured_queries if q["sql"].startswith("SELECT")]
    assert len(selects) == 2
    assert "notifications_webhookendpoint" in selects[1]["sql"]
    if connection.vendor == "postgresql":
        assert "FOR UPDATE" in selects[0]["sql"]
    assert writes(ctx.captured_queries) == ["UPDATE", "INSERT", "UPDATE"]
    assert set(Device.objects.filter(pk__in=ids).values_list("status", flat=True)) == {
        S.NOT_STARTED
    }
    assert DeviceEvent.objects.filter(device__in=ids, to_status=S.NOT_STARTED).count() == count


def test_values_that_differ_per_device_are_written_in_one_update(acme):
    first, second = place_order(acme), place_order(acme)
    ids = [first.devices.get().pk, second.devices.get().pk]
    devices_transition(device_ids=ids, transition="start_preparing", actor=SYSTEM, source="poll")
    shipments = {
        pk: Shipment.objects.create(order=order, carrier="DHL", tracking_number=str(pk))
        for pk, order in zip(ids, (first, second), strict=True)
    }
    with CaptureQueriesContext(connection) as ctx:
        devices_transition(
            device_ids=ids,
            transition="ship",
            actor=SYSTEM,
            source="poll",
            params_for=lambda d: {"shipment_id": shipments[d.pk].pk},
        )
    assert writes(ctx.captured_queries) == ["UPDATE", "INSERT", "UPDATE"]
    for pk in ids:
        assert Device.objects.get(pk=pk).shipment_id == shipments[pk].pk


def test_history_row_says_who_when_from_to_source_and_note(acme):
    device = place_order(acme).devices.get()
    device_transition(
        device_id=device.pk,
        transition="put_on_hold",
        actor=acme.partner_staff,
        source="admin",
        note="Waiting for the cost centre.",
    )
    event = DeviceEvent.objects.filter(device=device).first()
    assert (event.from_status, event.to_status) == (S.ORDERED, S.ON_HOLD)
    assert event.actor == acme.partner_staff
    assert event.actor_name == f"Pat Partner ({acme.partner.name})"
    assert event.source == "admin" and event.note == "Waiting for the cost centre."
    assert event.company == acme.company


def test_a_repeated_transition_changes_nothing(acme):
    device = device_in(acme, S.PREPARING)
    events = DeviceEvent.objects.filter(device=device).count()
    outcome = device_transition(
        device_id=device.pk, transition="start_preparing", actor=acme.partner_staff, source="admin"
    )
    assert outcome.result is Result.UNCHANGED
    assert "already Preparing" in outcome.message
    assert DeviceEvent.objects.filter(device=device).count() == events


def test_refused_transition_says_why_and_changes_nothing(acme):
    device = device_in(acme, S.SHIPPED)
    with pytest.raises(TransitionRefused, match="is Shipped: it cannot be moved to Preparing"):
        device_transition(
            device_id=device.pk,
            transition="start_preparing",
            actor=acme.partner_staff,
            source="admin",
        )
    with pytest.raises(TransitionRefused, match="You are not allowed to mark as received"):
        device_transition(
            device_id=device.pk, transition="mark_received", actor=acme.admin, source="admin"
        )
    device.refresh_from_db()
    assert device.status == S.SHIPPED


def test_foreign_device_is_not_found(acme, globex):
    device = place_order(acme).devices.get()
    with pytest.raises(Device.DoesNotExist):
        device_transition(
            device_id=device.pk,
            transition="acknowledge",
            actor=globex.partner_staff,
            source="admin",
        )


def test_one_refused_device_does_not_stop_the_others(acme, globex):
    ok = place_order(acme).devices.get()
    shipped = device_in(acme, S.SHIPPED)
    foreign = place_order(globex).devices.get()
    outcomes = devices_transition(
        device_ids=[ok.pk, shipped.pk, foreign.pk],
        transition="cancel",
        actor=acme.partner_staff,
        source="admin",
    )
    assert [o.result for o in outcomes] == [Result.CHANGED, Result.REFUSED, Result.NOT_FOUND]
    assert Device.objects.get(pk=ok.pk).status == S.CANCELLED
    assert Device.objects.get(pk=foreign.pk).status == S.ORDERED


def test_status_cannot_be_assigned_directly(acme):
    device = place_order(acme).devices.get()
    with pytest.raises(AttributeError, match="Direct status modification is not allowed"):
        device.status = S.RECEIVED


def test_unknown_transition_is_a_programming_error(acme):
    with pytest.raises(ValueError, match="Unknown transition"):
        devices_transition(device_ids=[1], transition="teleport", actor=SYSTEM, source="system")


def test_available_transitions_follow_role_and_status(acme):
    device = device_in(acme, S.PREPARING)
    assert available_transitions(device, acme.partner_staff) == [
        "put_on_hold",
        "backorder",
        "ship",
        "cancel",
    ]
    assert available_transitions(device, acme.admin) == ["cancel"]
    assert available_transitions(device, acme.employee) == []
