"""Hole 7: a partner cannot flood us. One 1.1 MB answer stored 3,000 carrier events for one
order, and Anna's Track Order page then weighed 1.3 MB. Events are capped per answer and per
parcel (the newest kept), and the page folds the older ones."""

from datetime import timedelta

import pytest
from django.utils import timezone

from devices.lifecycle import ShipmentReport, TrackingEvent, shipments_record
from devices.lifecycle.progress import MAX_EVENTS_PER_SHIPMENT
from orders.models import ShipmentEvent
from partners.adapters import adapter_for
from partners.adapters.http import MAX_EVENTS_PER_ANSWER, parse_entry
from tests.conftest import connect
from tests.helpers import device_in, place_order, status_answer

pytestmark = pytest.mark.django_db


def flood(n, start=None):
    start = start or timezone.now() - timedelta(days=30)
    return [
        {
            "at": (start + timedelta(minutes=i)).isoformat(),
            "description": f"Scan {i} " + "x" * 200,
            "location": "Hub",
        }
        for i in range(n)
    ]


def test_one_answer_with_thousands_of_events_keeps_the_newest_few(acme, canned):
    connect(acme.partner, canned)
    order = place_order(acme)
    shipment = {"carrier": "DHL", "tracking_number": "1", "events": flood(3000)}
    canned.answer = status_answer(order, status="shipped", shipments=[shipment])
    [update] = adapter_for(acme.partner).fetch_updates([order.pk]).updates
    events = update.shipments[0].events
    assert len(events) == MAX_EVENTS_PER_ANSWER
    assert events[0][1].startswith("Scan 2999")  # the newest


def test_a_parcel_keeps_at_most_its_newest_events_however_many_answers(acme):
    order = place_order(acme)
    now = timezone.now()
    for batch in range(4):
        events = [
            TrackingEvent(now - timedelta(hours=1000 - batch * 50 - i), f"Scan {batch}-{i}")
            for i in range(50)
        ]
        shipments_record({order.pk: ShipmentReport(carrier="DHL", events=events)}, now)
    kept = ShipmentEvent.objects.filter(shipment__order=order)
    assert kept.count() == MAX_EVENTS_PER_SHIPMENT
    assert kept.filter(description="Scan 3-49").exists()  # the newest stay
    assert not kept.filter(description="Scan 0-0").exists()  # the oldest go


def test_the_track_order_page_stays_light_and_folds_older_updates(acme, login):
    device = device_in(acme, "shipped")
    now = timezone.now()
    events = [TrackingEvent(now - timedelta(minutes=i), "Scan " + "x" * 280) for i in range(500)]
    shipments_record({device.order_id: ShipmentReport(events=events)}, now)
    page = login(acme.employee).get(f"/me/orders/{device.order_id}/track/")
    assert page.status_code == 200
    assert len(page.content) < 80_000
    assert "90 earlier updates" in page.content.decode()


def test_a_tracking_link_that_is_not_https_is_refused(acme):
    order = place_order(acme)
    entry = {
        "order_id": order.number,
        "version": 1,
        "status": "shipped",
        "shipments": [{"carrier": "DHL", "tracking_url": "http://track.example/1"}],
    }
    with pytest.raises(ValueError, match="https"):
        parse_entry(entry, {order.pk})
    with pytest.raises(ValueError):
        parse_entry(
            {**entry, "shipments": [{"carrier": "DHL", "tracking_url": "javascript:alert(1)"}]},
            {order.pk},
        )
