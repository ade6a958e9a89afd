"""In Chromium, the partner's day: Nordic IT's staff open the work queue from their
dashboard, see Anna's order with its address, age and what waits, and ship the whole
order with one bulk action that asks only for that order's parcel."""

import pytest
from playwright.sync_api import expect

from demo.data import seed_demo
from tests.e2e.signin import signed_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_partner_ships_a_whole_order_from_the_queue(browser, live_server):
    seed_demo()
    staff = signed_in(browser, live_server, "staff@nordic-it.example")
    staff.goto(f"{live_server.url}/admin/")
    staff.get_by_role("link", name="Work queue", exact=True).click()
    row = staff.locator("#result_list tbody tr", has_text="MacBook Pro 14 M4")
    expect(row).to_contain_text("Preparing")
    expect(row).to_contain_text("Storgatan 1")
    expect(row).to_contain_text("Acme AB")
    row.locator("input.action-select").check()
    staff.locator("select[name=action]").select_option(
        label="Ship: the waiting items of the selected orders"
    )
    staff.get_by_role("button", name="Go").click()
    # one parcel form, for this order only
    expect(staff.get_by_role("heading", name="Order VO-")).to_have_count(1)
    staff.get_by_label("Carrier").fill("PostNord")
    staff.get_by_label("Tracking number").fill("PN777000222SE")
    staff.get_by_role("button", name="Apply").click()
    expect(staff.locator(".messagelist")).to_contain_text("Ship: done for 1 of 1.")
    row = staff.locator("#result_list tbody tr", has_text="MacBook Pro 14 M4")
    expect(row.locator(".badge")).to_have_text("Shipped")
