"""In Chromium, the help article's employee journey on the demo data."""

import re

import pytest
from playwright.sync_api import expect

from demo.data import DEMO_PASSWORD, seed_demo
from devices.models import Device

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_anna_tracks_receives_and_finds_her_preparing_order_locked(page, live_server, sign_in):
    seed_demo()
    sign_in("anna@acme.example", DEMO_PASSWORD)
    expect(page.get_by_role("heading", name="Your Details")).to_be_visible()

    # Track Order on the shipped headset: carrier, tracking number, status, events.
    headset_order = page.locator(".item", has_text="Jabra Evolve2 65").first
    headset_order.get_by_role("link", name="Track Order").click()
    expect(page.get_by_role("heading", name=re.compile("Track order VO-"))).to_be_visible()
    expect(page.get_by_test_id("tracking-number")).to_have_text("PN738104592SE")
    expect(page.get_by_test_id("delivery-status")).to_have_text("In transit")
    expect(page.get_by_text("Arrived at sorting terminal")).to_be_visible()
    expect(
        page.get_by_role("link", name=re.compile("Follow on the carrier's site"))
    ).to_have_attribute("href", re.compile("PN738104592SE"))

    # The delivered monitor: click the product, then Mark as received.
    page.get_by_role("link", name="Your Details").first.click()
    page.locator(".item-title a", has_text="Dell UltraSharp 27 4K").click()
    expect(page.get_by_test_id("device-status")).to_have_text("Delivered")
    page.get_by_role("link", name="Mark as received").click()
    page.get_by_label("Serial number").fill("CN-0X1Y2Z")
    page.get_by_role("button", name="Mark as received").click()
    expect(page.get_by_test_id("device-status")).to_have_text("Received")
    expect(page.get_by_role("status")).to_contain_text("is marked as received")
    expect(page.get_by_text("CN-0X1Y2Z")).to_be_visible()
    assert Device.objects.get(name="Dell UltraSharp 27 4K").serial_number == "CN-0X1Y2Z"

    # Back on Your Details the prompt is gone and the badge says Received.
    page.get_by_role("link", name="Your Details").first.click()
    expect(page.get_by_text("was delivered on")).to_have_count(0)
    row = page.locator(".item", has_text="Dell UltraSharp 27 4K")
    expect(row.locator(".badge")).to_have_text("Received")

    # The MacBook is being prepared: its order is locked, with the partner's contact.
    page.locator(".item", has_text="MacBook Pro 14 M4").first.get_by_role(
        "link", name="View order"
    ).click()
    expect(page.get_by_test_id("order-status")).to_have_text("Preparing")
    locked = page.get_by_test_id("order-locked")
    expect(locked).to_contain_text("can no longer be changed in Velory")
    expect(locked).to_contain_text("not synced back")
    expect(page.get_by_role("link", name="orders@nordic-it.example")).to_be_visible()
    expect(page.get_by_role("textbox", name="Delivery address")).to_have_count(0)


def test_anna_changes_the_address_of_her_not_started_order(page, live_server, sign_in):
    seed_demo()
    sign_in("anna@acme.example", DEMO_PASSWORD)
    page.locator(".item", has_text="iPhone 16").first.get_by_role("link", name="View order").click()
    expect(page.get_by_test_id("order-status")).to_have_text("Not started")
    page.get_by_label("Delivery address").fill("Anna Andersson\nHemvägen 3\n123 45 Solna")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status")).to_contain_text("was told")
    expect(page.get_by_text("Changed the delivery address.")).to_be_visible()
