"""Partners that answer in ways the fake's switches do not: wrong JSON types, absurd
numbers, bodies that drip or nest without end, a long Retry-After, an order cancelled
before it was placed, a status that steps sideways, a tracking number that comes later.
A canned HTTP server on 127.0.0.1 serves each answer; nothing is mocked."""

import json

import pytest

from devices.models import DeviceStatus
from orders import services as orders
from orders.models import DispatchStatus, Order, OrderEvent
from partners import services as partners
from partners.adapters import AdapterError, adapter_for
from partners.adapters.http import parse_entry
from partners.models import DistributorConnection
from partners.services import placing, polling
from tests.conftest import connect
from tests.helpers import bring_to, place_order, status_answer

pytestmark = pytest.mark.django_db
S = DeviceStatus


@pytest.mark.parametrize(
    "entry",
    [
        {"status": ["shipped"]},
        {"items": 5},
        {"shipments": 7},
        {"shipments": [{"carrier": "DHL", "events": 3}]},
        {"version": 2**40},
        {"version": True},
    ],
)
def test_an_entry_of_the_wrong_shape_is_rejected_for_its_order_only(acme, canned, entry):
    connect(acme.partner, canned)
    order = place_order(acme)
    canned.answer = status_answer(order, **entry)
    result = adapter_for(acme.partner).fetch_updates([order.pk])
    assert result.updates == [] and len(result.rejected) == 1
    with pytest.raises(ValueError):
        parse_entry(json.loads(canned.answer[2])["orders"][0], {order.pk})


def test_unknown_that_is_not_a_list_is_ignored(acme, canned):
    connect(acme.partner, canned)
    order = place_order(acme)
    canned.answer = (200, {}, json.dumps({"orders": [], "unknown": 5}).encode())
    assert adapter_for(acme.partner).fetch_updates([order.pk]).unknown == []


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({}, b"[" * 200_000),  # nests deeper than the parser goes
        ({"Content-Encoding": "gzip"}, b"not gzip at all"),
    ],
)
def test_an_answer_that_cannot_be_read_is_a_retryable_adapter_error(acme, canned, headers, body):
    connect(acme.partner, canned)
    order = place_order(acme)
    canned.answer = (200, headers, body)
    with pytest.raises(AdapterError) as error:
        adapter_for(acme.partner).fetch_updates([order.pk])
    assert error.value.retryable


def test_a_long_retry_after_is_not_slept_through(acme, canned):
    import time

    connect(acme.partner, canned)
    order = place_order(acme)
    canned.answer = (429, {"Retry-After": "120"}, b"{}")
    with pytest.raises(AdapterError):
        adapter_for(acme.partner).fetch_updates([order.pk])
    started = time.monotonic()
    with pytest.raises(AdapterError) as error:  # blocked by the partner's wait: at once
        adapter_for(acme.partner).place_order(order)
    assert time.monotonic() - started < 1 and error.value.retry_after > 100
    assert canned.requests == 1


def test_a_poll_whose_batch_cannot_be_applied_records_it_and_goes_on(acme, canned, monkeypatch):
    connect(acme.partner, canned)
    order = place_order(acme)
    Order.objects.filter(pk=order.pk).update(
        dispatch_status=DispatchStatus.PLACED, tracking_open=True, next_poll_at="2000-01-01T00:00Z"
    )
    canned.answer = status_answer(order)

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(polling, "tracking_apply", broken)
    report = partners.partner_poll(acme.partner.pk)
    assert report.failed == 1
    connection = DistributorConnection.objects.get(partner=acme.partner)
    assert "could not apply" in connection.last_error and connection.consecutive_failures == 1


def test_an_order_cancelled_before_it_was_placed_is_never_sent(acme, canned):
    connect(acme.partner, canned)
    order = place_order(acme)
    orders.order_cancel(order_id=order.pk, actor=acme.admin, reason="Changed plans")
    assert partners.order_place(order.pk) == "skipped"
    order.refresh_from_db()
    assert order.dispatch_status == DispatchStatus.MANUAL and canned.requests == 0
    assert OrderEvent.objects.filter(order=order, message__contains="cancelled first").exists()


def test_a_worker_whose_claim_ran_out_does_not_overwrite_the_outcome(acme, canned):
    from datetime import timedelta

    from django.utils import timezone

    connect(acme.partner, canned)
    order = place_order(acme)
    canned.answer = (503, {}, b"{}")
    # Another worker holds a newer claim by the time this one's failure comes back.
    original = placing._place_failed

    def late(order_, error, token):
        Order.objects.filter(pk=order_.pk).update(
            dispatch_claimed_until=timezone.now() + timedelta(minutes=5)
        )
        return original(order_, error, token)

    placing._place_failed = late
    try:
        assert partners.order_place(order.pk) == "skipped"
    finally:
        placing._place_failed = original
    order.refresh_from_db()
    assert order.dispatch_error == "" and order.dispatch_status == DispatchStatus.PENDING


def test_a_paused_api_connection_holds_orders_instead_of_mailing_them(acme, canned):
    connect(acme.partner, canned)
    DistributorConnection.objects.filter(partner=acme.partner).update(enabled=False)
    order = place_order(acme)
    assert partners.order_place(order.pk) == "retry"
    order.refresh_from_db()
    assert "paused" in order.dispatch_error and order.dispatch_status == DispatchStatus.PENDING


def test_hold_and_backorder_reported_after_processing_are_applied(acme, canned):
    connect(acme.partner, canned)
    order = place_order(acme)
    device = bring_to(acme, order.devices.get(), S.PREPARING)
    Order.objects.filter(pk=order.pk).update(
        dispatch_status=DispatchStatus.PLACED, tracking_open=True, next_poll_at="2000-01-01T00:00Z"
    )
    canned.answer = status_answer(order, status="backordered", version=5)
    partners.partner_poll(acme.partner.pk)
    device.refresh_from_db()
    assert device.status == S.BACKORDERED


def test_a_tracking_number_reported_later_is_stored(acme, canned):
    connect(acme.partner, canned)
    order = place_order(acme)
    bring_to(acme, order.devices.get(), S.PREPARING)
    Order.objects.filter(pk=order.pk).update(
        dispatch_status=DispatchStatus.PLACED, tracking_open=True, next_poll_at="2000-01-01T00:00Z"
    )
    canned.answer = status_answer(
        order, status="shipped", version=1, shipments=[{"carrier": "DHL"}]
    )
    partners.partner_poll(acme.partner.pk)
    Order.objects.filter(pk=order.pk).update(next_poll_at="2000-01-01T00:00Z")
    canned.answer = status_answer(
        order,
        status="shipped",
        version=2,
        shipments=[{"carrier": "DHL", "tracking_number": "JD0001"}],
    )
    partners.partner_poll(acme.partner.pk)
    shipment = order.shipments.get()
    assert (shipment.carrier, shipment.tracking_number) == ("DHL", "JD0001")


def test_a_passing_fault_is_retried_in_the_same_run_before_any_backoff(acme, canned):
    connect(acme.partner, canned)
    order = place_order(acme)
    placed = json.dumps({"order_id": order.number, "partner_ref": "P-1"}).encode()
    canned.sequence = [(503, {}, b"{}"), (503, {}, b"{}")]
    canned.answer = (201, {"Content-Type": "application/json"}, placed)
    assert partners.order_place(order.pk) == "placed"
    order.refresh_from_db()
    assert order.dispatch_attempts == 1 and order.partner_ref == "P-1"
    assert canned.requests == 3


def test_a_fault_that_outlasts_the_run_backs_off(acme, canned):
    connect(acme.partner, canned)
    order = place_order(acme)
    canned.answer = (503, {}, b"{}")
    assert partners.order_place(order.pk) == "retry"
    assert canned.requests == placing.PLACE_TRIES_IN_RUN
