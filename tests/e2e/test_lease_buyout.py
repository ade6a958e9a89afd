"""In Chromium: Anna's leased laptop nears the end of its lease (the demo's unanswered
notice); she chooses buyout, pays on the sandbox processor's page (a declined card first,
then a good one) and sees Bought out by employee."""

import re

import pytest
from playwright.sync_api import expect

from demo.data import seed_demo
from tests.e2e.signin import signed_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_anna_buys_out_her_leased_laptop(browser, live_server, settings, sandbox_processor):
    settings.SITE_URL = live_server.url  # the processor's page sends Anna back here
    seed_demo()
    anna = signed_in(browser, live_server, "anna@acme.example", width=390, height=844)  # a phone

    notice = anna.get_by_test_id("lease-due")
    expect(notice).to_contain_text("The lease of your Lenovo ThinkPad X1 Carbon ends on")
    notice.get_by_role("link", name="Choose return or buyout").click()
    expect(anna.get_by_role("heading", name="Buy it out")).to_be_visible()
    buy = anna.get_by_role("link", name=re.compile(r"^Buy out for €[\d,]+\.\d\d$"))
    price = buy.inner_text().removeprefix("Buy out for ")
    buy.click()
    # The confirmation page: the price and how it is paid, before anything is done.
    expect(anna.get_by_test_id("buyout-price")).to_have_text(price)
    expect(anna.get_by_test_id("lease-confirm")).to_contain_text("by card")
    anna.get_by_role("button", name=f"Confirm buyout for {price}").click()

    expect(anna.get_by_test_id("device-status")).to_have_text("Pending employee buyout")
    # On the card processor's page: a declined card first, nothing is charged.
    anna.get_by_role("button", name=f"Pay {price} by card").click()
    expect(anna).to_have_url(re.compile(r"^" + re.escape(sandbox_processor.url) + r"/pay/cs_"))

    def card(number):
        anna.get_by_label("Card number").fill(number)
        anna.get_by_label("Expiry (MM/YY)").fill("08/31")
        anna.get_by_label("CVC").fill("123")
        anna.get_by_label("Name on card").fill("Anna Andersson")
        anna.get_by_role("button", name="Pay", exact=True).click()

    card("4000 0000 0000 0002")
    expect(anna.get_by_text("Your card was declined.")).to_be_visible()
    card("4242 4242 4242 4242")
    expect(anna).to_have_url(re.compile(r"^" + re.escape(live_server.url) + r"/me/devices/\d+/$"))
    expect(anna.get_by_role("status").first).to_contain_text("Paid:")
    expect(anna.get_by_test_id("device-status")).to_have_text("Bought out by employee")
    expect(anna.get_by_test_id("lease-panel")).to_contain_text(f"You bought it out for {price}")
    timeline = anna.locator(".timeline")
    expect(timeline).to_contain_text("Bought out by employee")
    expect(timeline).to_contain_text("Pending employee buyout")

    anna.goto(f"{live_server.url}/me/")
    expect(anna.get_by_test_id("lease-due")).to_have_count(0)
    anna.context.close()
