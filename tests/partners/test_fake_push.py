"""The fake distributor's push mode, over real HTTP both ways: Velory places an order with
the fake (its distributor API), and the fake pushes what happens to it to Velory's partner
API (a live server) with a partner key, instead of being polled. Retries are idempotent,
a 429's Retry-After is honoured, Velory being down loses nothing, and a parcel's delivery
exception raises an alert."""

import http.server
import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from devices.models import DeviceEvent, DeviceStatus
from orders.models import Order, OrderAlert
from orders.services.alerts import order_alerts_sweep
from partners import services as partners
from partners.fake import FakeConfig, FakeDistributor
from partners.fake.pusher import serial_number
from partners.fake.simulation import EXCEPTION_TEXT
from partners.models import DistributorConnection, PushRequest
from partners.services import keys
from tests.conftest import connect, free_port
from tests.helpers import place_order

pytestmark = pytest.mark.django_db(transaction=True)
S = DeviceStatus
KEY = "push-test-key"


@pytest.fixture
def pushing(acme, live_server, clock):
    """Acme's partner places through the fake and pushes back through the live server."""
    _key, raw = keys.api_key_create(name="fake", actor=acme.partner_staff)
    fake = FakeDistributor(
        FakeConfig(
            step_seconds=10,
            clock=clock,
            seed=3,
            push_url=f"{live_server.url}/api/partner/v1/",
            push_for=KEY,
            push_key=raw,
            push_interval=0,  # rounds by hand, with the clock moved
        )
    ).start()
    connect(acme.partner, fake, key=KEY)
    DistributorConnection.objects.filter(partner=acme.partner).update(pushes_updates=True)
    yield fake
    fake.stop()


def statuses(order):
    return sorted(order.devices.values_list("status", flat=True))


def placed(acme, items=1):
    order = place_order(acme, items=items)
    partners.order_place(order.pk)  # placed already when the approval committed
    order.refresh_from_db()
    assert order.dispatch_status == "placed" and order.partner_ref
    return order


def test_the_fake_pushes_an_order_through_its_lifecycle(acme, pushing, clock):
    order = placed(acme, items=2)
    assert partners.partners_due(timezone.now() + timedelta(days=1)) == {}  # never polled
    assert pushing.pusher.push_once() == {"accepted": 1, "updated": 0, "failed": 0}
    assert statuses(order) == [S.NOT_STARTED] * 2
    assert pushing.pusher.push_once() == {"accepted": 0, "updated": 0, "failed": 0}  # quiet
    clock.advance(10)
    pushing.pusher.push_once()
    assert statuses(order) == [S.PREPARING] * 2
    clock.advance(10)
    pushing.pusher.push_once()
    assert statuses(order) == [S.SHIPPED] * 2
    shipment = order.shipments.get()
    assert shipment.tracking_number.startswith("FD") and shipment.events.exists()
    serials = dict(order.devices.values_list("pk", "serial_number"))
    assert serials == {pk: serial_number(order.number, pk) for pk in serials}
    clock.advance(10)
    pushing.pusher.push_once()
    assert statuses(order) == [S.DELIVERED] * 2
    history = list(
        DeviceEvent.objects.filter(device=order.devices.first())
        .order_by("at", "id")
        .values_list("to_status", "source")
    )
    assert [to for to, _ in history] == [
        S.ORDERED,
        S.NOT_STARTED,
        S.PREPARING,
        S.SHIPPED,
        S.DELIVERED,
    ]
    assert {source for _, source in history[1:]} == {"api"}


def test_a_push_retried_after_a_lost_answer_is_applied_once(acme, pushing, clock):
    order = placed(acme)
    pushing.pusher.push_once()
    clock.advance(20)
    pushing.pusher._said.clear()  # as if the answers had been lost: everything again
    pushing.pusher.push_once()
    pushing.pusher._said.clear()
    pushing.pusher.push_once()
    assert statuses(order) == [S.SHIPPED]
    device = order.devices.get()
    assert DeviceEvent.objects.filter(device=device, to_status=S.SHIPPED).count() == 1
    replayed = PushRequest.objects.filter(partner=acme.partner).count()
    assert replayed == 2  # the accept and the update, each stored once


class Unavailable(http.server.BaseHTTPRequestHandler):
    """Velory down for maintenance, or over the rate limit."""

    status = 503
    retry_after = None
    hits = 0

    def do_POST(self):
        type(self).hits += 1
        self.send_response(self.status)
        if self.retry_after:
            self.send_header("Retry-After", self.retry_after)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("status,retry_after", [(503, None), (429, "30")])
def test_a_refusing_velory_loses_nothing_and_is_not_hammered(
    acme, pushing, clock, status, retry_after
):
    order = placed(acme)
    handler = type("H", (Unavailable,), {"status": status, "retry_after": retry_after})
    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    real = pushing.config.push_url
    try:
        pushing.config.push_url = f"http://127.0.0.1:{port}/api/partner/v1/"
        assert pushing.pusher.push_once()["failed"] == 1
        assert pushing.pusher.push_once()["failed"] == 0  # waiting: not asked again
        assert handler.hits == 1
    finally:
        server.shutdown()
        server.server_close()
    pushing.config.push_url = real
    pushing.pusher._wait_until = 0  # the wait is over
    pushing.pusher.push_once()
    assert statuses(order) == [S.NOT_STARTED]  # nothing lost


def test_a_delivery_exception_is_pushed_and_raises_an_alert_until_delivered(
    acme, pushing, clock, login
):
    pushing.config.exception_rate = 1.0  # every parcel meets one
    order = placed(acme)
    pushing.pusher.push_once()
    clock.advance(30)  # shipped, then the delivery attempt fails
    pushing.pusher.push_once()
    assert statuses(order) == [S.SHIPPED]
    shipment = order.shipments.get()
    assert shipment.exception == EXCEPTION_TEXT and shipment.exception_at
    assert order_alerts_sweep().opened == 1
    alert = OrderAlert.objects.open().get(order=order)
    assert alert.kind == OrderAlert.Kind.DELIVERY_EXCEPTION
    assert order_alerts_sweep().opened == 0  # raised once
    page = login(acme.employee).get(f"/me/orders/{order.pk}/track/")
    assert "The carrier reports a problem" in page.content.decode()
    pushing.config.exception_rate = 0  # the carrier tries again, and delivers
    pushing.pusher.push_once()
    assert statuses(order) == [S.DELIVERED]
    shipment.refresh_from_db()
    assert shipment.exception == "" and shipment.exception_at is None
    assert order_alerts_sweep().closed == 1


def test_a_polled_delivery_exception_raises_the_alert_too(acme, fake_distributor, clock):
    fake_distributor.config.exception_rate = 1.0
    connect(acme.partner, fake_distributor, key="polled")
    order = placed(acme)
    clock.advance(30)
    Order.objects.filter(pk=order.pk).update(next_poll_at=timezone.now() - timedelta(seconds=1))
    partners.partner_poll(acme.partner.pk)
    assert statuses(order) == [S.SHIPPED]
    assert order.shipments.get().exception == EXCEPTION_TEXT
    assert order_alerts_sweep().opened == 1
    assert OrderAlert.objects.open().get().kind == OrderAlert.Kind.DELIVERY_EXCEPTION
