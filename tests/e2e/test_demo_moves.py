"""In Chromium: an order placed in the demo goes to the fake distributor over its API and
moves on by itself; Anna's Track Order shows the fake's tracking number."""

import pytest
from playwright.sync_api import expect

from demo.data import DEMO_PASSWORD, seed_demo
from orders import services as orders
from orders.models import Order, ProductRequest
from partners import tasks
from partners.models import DistributorConnection

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_approved_order_moves_by_itself_to_shipped(
    page, live_server, sign_in, fake_distributor, clock
):
    seed_demo()
    DistributorConnection.objects.filter(partner__name="Nordic IT").update(
        base_url=fake_distributor.url
    )
    request = ProductRequest.objects.get(name="Apple Magic Keyboard", status="pending")
    admin = request.company.users.get(email="admin@acme.example")
    orders.request_approve(request_id=request.pk, actor=admin)  # placed after commit
    order = Order.objects.get(request=request)
    assert [o["order_id"] for o in fake_distributor.orders_for("nordic-demo-key")] == [order.number]

    # Time passes at the distributor; the periodic job polls it, as beat would.
    clock.advance(25)
    Order.objects.filter(pk=order.pk).update(next_poll_at=order.created_at)
    tasks.poll_tracking()

    sign_in("anna@acme.example", DEMO_PASSWORD)
    card = page.locator(".item", has_text=order.number)
    expect(card.locator(".badge")).to_have_text("Shipped")
    card.get_by_role("link", name="Track Order").click()
    tracking = fake_distributor.orders_for("nordic-demo-key")[0]
    number = order.shipments.get().tracking_number
    assert number.startswith("FD") and tracking["order_id"] == order.number
    expect(page.get_by_test_id("tracking-number")).to_have_text(number)
    expect(page.get_by_test_id("delivery-status")).to_have_text("In transit")
    expect(page.get_by_text("Picked up")).to_be_visible()
