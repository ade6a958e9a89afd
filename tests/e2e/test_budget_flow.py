"""In Chromium: Anna requests a tablet over her budget (the rest by card), the admin
approves it and then cancels the order; Anna sees her budget back and the refund."""

import re

import pytest
from playwright.sync_api import expect

from demo.data import DEMO_PASSWORD, seed_demo

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in_as(browser, live_server, email):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    return page


def available(page):
    return page.get_by_test_id("budget-available").first


def test_request_approve_cancel_and_the_money_comes_back(browser, live_server):
    seed_demo()
    anna = sign_in_as(browser, live_server, "anna@acme.example")
    expect(available(anna)).to_have_text("554.00 EUR")

    anna.get_by_role("link", name="Catalogue").first.click()
    anna.get_by_role("link", name="Samsung Galaxy Tab S9").click()
    expect(
        anna.get_by_text("554.00 EUR comes from your budget and the remaining 345.00 EUR")
    ).to_be_visible()
    anna.get_by_label("Card number").fill("4242 4242 4242 4242")
    anna.get_by_label("Expiry (MM/YY)").fill("08/31")
    anna.get_by_label("Security code").fill("123")
    anna.get_by_role("button", name="Pay 345.00 EUR and send request").click()
    expect(anna.get_by_role("status").first).to_contain_text("is sent to your company admin")
    expect(available(anna)).to_have_text("0.00 EUR")
    requests = anna.locator("section", has=anna.get_by_role("heading", name="Your requests"))
    expect(requests.locator(".item", has_text="Samsung Galaxy Tab S9")).to_contain_text(
        "Waiting for approval"
    )

    admin = sign_in_as(browser, live_server, "admin@acme.example")
    admin.goto(f"{live_server.url}/admin/orders/productrequest/?status__exact=pending")
    admin.get_by_role("link", name=re.compile("Samsung Galaxy Tab S9")).click()
    admin.get_by_test_id("action-approve").click()
    admin.get_by_role("button", name="Approve").click()
    expect(admin.locator(".messagelist")).to_contain_text("Approved. Order VO-")
    admin.get_by_role("link", name=re.compile(r"^VO-\d+$")).click()
    admin.get_by_test_id("action-cancel").click()
    admin.get_by_label("Reason").fill("The tablet is discontinued")
    admin.get_by_role("button", name="Cancel order").click()
    expect(admin.locator(".messagelist")).to_contain_text("554.00 released to the budget")
    expect(admin.locator(".messagelist")).to_contain_text("345.00 being refunded")

    anna.goto(f"{live_server.url}/me/")
    expect(available(anna)).to_have_text("554.00 EUR")
    payments = anna.locator(
        "section", has=anna.get_by_role("heading", name="Card payments and refunds")
    )
    tablet = payments.locator(".item", has_text="Samsung Galaxy Tab S9")
    expect(tablet).to_contain_text("Refund of 345.00 EUR to the same card: Refunded")
    expect(tablet.locator(".badge")).to_have_text("Refunded")
