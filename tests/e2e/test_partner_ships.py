"""In Chromium: Nordic IT's staff ship Anna's MacBook from the work queue with a tracking
number; Anna sees it Shipped with that number under Track Order."""

import re

import pytest
from playwright.sync_api import expect

from demo.data import seed_demo
from tests.e2e.signin import signed_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_partner_ships_and_the_employee_tracks_it(browser, live_server):
    seed_demo()
    staff = signed_in(browser, live_server, "staff@nordic-it.example")
    staff.goto(f"{live_server.url}/admin/")
    staff.get_by_role("link", name="Work queue", exact=True).click()
    row = staff.locator("#result_list tbody tr", has_text="MacBook Pro 14 M4")
    expect(row).to_contain_text("Preparing")
    # open the device, then its Ship button
    staff.goto(f"{live_server.url}/admin/devices/device/?q=MacBook")
    staff.get_by_role("link", name="MacBook Pro 14 M4").click()
    staff.get_by_test_id("action-ship").click()
    staff.get_by_label("Carrier").fill("PostNord")
    staff.get_by_label("Tracking number").fill("PN555000111SE")
    staff.get_by_label("Tracking link").fill("https://tracking.postnord.com/se/?id=PN555000111SE")
    staff.get_by_role("button", name="Ship").click()
    expect(staff.locator(".messagelist")).to_contain_text("Ship done")

    anna = signed_in(browser, live_server, "anna@acme.example")
    card = anna.locator(".item", has_text="MacBook Pro 14 M4").first
    expect(card.locator(".badge")).to_have_text("Shipped")
    card.get_by_role("link", name="Track Order").click()
    expect(anna.get_by_role("heading", name=re.compile("Track order"))).to_be_visible()
    expect(anna.get_by_test_id("tracking-number")).to_have_text("PN555000111SE")
    expect(anna.get_by_text("Shipped", exact=True).first).to_be_visible()
