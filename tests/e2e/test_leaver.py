"""In Chromium: Leo (the demo's Acme leaver, exit date 10 days ahead) answers his
offboarding case from Your Details: returns his leased laptop with the deadline shown
first, buys his phone at its value on the exit date by card, and sees both settled or on
their way; the page passes axe."""

import re

import pytest
from playwright.sync_api import expect

from demo.data import seed_demo
from tests.e2e.signin import signed_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_leo_answers_his_offboarding_case(browser, live_server, settings, sandbox_processor, axe):
    settings.SITE_URL = live_server.url  # the processor's page sends Leo back here
    seed_demo()
    leo = signed_in(browser, live_server, "leo@acme.example", width=390, height=844)  # a phone

    todo = leo.get_by_test_id("leaving-todo")
    expect(todo).to_contain_text("Your last day is")
    todo.get_by_role("link", name="Choose for your devices").click()
    expect(leo.get_by_role("heading", name="Your hardware before you leave")).to_be_visible()
    axe.check(leo, "leaving")
    items = leo.get_by_test_id("leaving-item")
    expect(items).to_have_count(3)

    # the leased laptop: return it, the deadline on the confirmation page first
    laptop = items.filter(has_text="MacBook Pro")
    laptop.get_by_role("link", name="Return it").click()
    expect(leo.get_by_test_id("return-by")).to_have_text(re.compile(r"^\d{1,2} \w+ \d{4}$"))
    axe.check(leo, "leaving confirm")
    leo.get_by_role("button", name="Confirm return").click()
    expect(leo.get_by_role("status").first).to_contain_text("is being returned")
    expect(items.filter(has_text="MacBook Pro").get_by_test_id("leaving-state")).to_contain_text(
        "Send it back by"
    )

    # the owned phone: buy it at its value on the exit date, by card
    phone = items.filter(has_text="iPhone")
    buy = phone.get_by_role("link", name=re.compile(r"^Buy it for "))
    price = re.search(r"€[\d,]+\.\d\d", buy.inner_text()).group(0)
    buy.click()
    expect(leo.get_by_test_id("buyout-price")).to_have_text(price)
    leo.get_by_role("button", name=f"Confirm and pay {price}").click()
    leo.get_by_role("button", name="Continue to payment").click()
    expect(leo).to_have_url(re.compile(r"^" + re.escape(sandbox_processor.url) + r"/pay/cs_"))
    leo.get_by_label("Card number").fill("4242 4242 4242 4242")
    leo.get_by_label("Expiry (MM/YY)").fill("08/31")
    leo.get_by_label("CVC").fill("123")
    leo.get_by_label("Name on card").fill("Leo Lindgren")
    leo.get_by_role("button", name="Pay", exact=True).click()
    expect(leo).to_have_url(re.compile(r"^" + re.escape(live_server.url) + r"/me/leaving/$"))
    expect(items.filter(has_text="iPhone").get_by_test_id("leaving-state")).to_have_text(
        "Bought: it is yours"
    )
    axe.assert_clean()
    leo.context.close()
