"""In Chromium, the employee's day of issue 14 on the demo data: Anna opens her leased
laptop, chooses Return, reads the deadline and what happens next on the confirmation page,
confirms, and finds "Return by …" on Your Details; when the partner confirms the trade-in,
the live part of Your Details drops the item without a reload and says so politely."""

import re

import pytest
from playwright.sync_api import expect

from companies.models import User
from demo.data import seed_demo
from devices import lifecycle
from devices.models import Device
from leasing.models import Lease
from tests.e2e.signin import signed_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LAPTOP = "Lenovo ThinkPad X1 Carbon"


def test_anna_confirms_the_return_of_her_leased_laptop(browser, live_server):
    seed_demo()
    anna = signed_in(browser, live_server, "anna@acme.example", width=390, height=844)  # a phone
    expect(anna.get_by_role("heading", name="Your Details")).to_be_visible()

    # She opens the leased laptop and chooses to return it: nothing happens yet.
    anna.locator(".item-title a", has_text=LAPTOP).click()
    expect(anna.get_by_test_id("device-status")).to_have_text("Active")
    anna.get_by_test_id("lease-panel").get_by_role("link", name="Return or buy out").click()
    anna.get_by_role("link", name="Return the device").click()

    # The confirmation page states the deadline and what happens next.
    confirm = anna.get_by_test_id("lease-confirm")
    expect(anna.get_by_role("heading", name=f"Return your {LAPTOP}?")).to_be_visible()
    deadline = anna.get_by_test_id("return-by").inner_text()
    assert re.fullmatch(r"\d{1,2} [A-Z][a-z]+ \d{4}", deadline), deadline
    expect(confirm).to_contain_text("e-mails you the return instructions")
    expect(confirm).to_contain_text("Nothing to pay")
    assert Device.objects.get(name=LAPTOP).status == "active"  # a look commits nothing

    anna.get_by_role("button", name="Confirm return").click()
    expect(anna.get_by_test_id("device-status")).to_have_text("Processed for trade in")
    expect(anna.get_by_role("status").first).to_contain_text(f"send it back by {deadline}")
    lease = Lease.objects.get(device__name=LAPTOP)
    assert f"{lease.return_due_on.day} {lease.return_due_on:%B %Y}" == deadline

    # Your Details keeps "Return by …" until the trade-in is confirmed.
    anna.get_by_role("link", name="Your Details").first.click()
    due = anna.get_by_test_id("return-due")
    expect(due).to_contain_text(f"Return by {deadline}: your {LAPTOP}.")
    expect(anna.get_by_test_id("lease-due")).to_have_count(0)

    # The partner confirms the trade-in; the live part follows without a reload.
    device = Device.objects.get(name=LAPTOP)
    staff = User.objects.get(email="staff@nordic-it.example")
    lifecycle.devices_apply(
        transition="confirm_trade_in", device_ids=[device.pk], actor=staff, source="admin"
    )
    marker = anna.evaluate("() => (window.__same_page = 1)")
    assert marker == 1
    anna.evaluate("() => window.veloryLive.refreshAll()")
    expect(anna.get_by_test_id("return-due")).to_have_count(0)
    expect(anna.locator("[data-live-announcer]")).to_have_text("Your Details were updated.")
    assert anna.evaluate("() => window.__same_page") == 1  # no reload happened
    past = anna.get_by_test_id("past-items")
    past.locator("summary").click()
    expect(past).to_contain_text(LAPTOP)
    expect(past).to_contain_text("Traded in")
    anna.context.close()
