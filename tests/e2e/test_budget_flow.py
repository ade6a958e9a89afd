"""In Chromium: Anna requests a tablet over her budget and pays the rest on the card
processor's hosted page with the 3-D Secure test card, passes the challenge and comes back
to "Waiting for approval"; the admin approves and the payment shows Charged; the admin
cancels and it shows Refunded. A second request is rejected and its hold shows Released,
with nothing charged. No request to Velory's own server carries the card number."""

import re

import pytest
from playwright.sync_api import expect

from budgets.models import CardPayment
from budgets.payments import get_gateway
from demo.data import seed_demo
from tests.e2e.signin import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
THREE_DS_CARD = "4000002500003155"


def sign_in_as(browser, live_server, email, seen=None):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    if seen is not None:
        page.on("request", lambda r: seen.append((r.url, r.post_data or "")))
    sign_in(page, live_server.url, email)
    return page


def available(page):
    return page.get_by_test_id("budget-available").first


def pay_on_the_processors_page(page, number, processor_url):
    expect(page).to_have_url(re.compile("^" + re.escape(processor_url) + "/pay/cs_"))
    page.get_by_label("Card number").fill(number)
    page.get_by_label("Expiry (MM/YY)").fill("08/31")
    page.get_by_label("CVC").fill("123")
    page.get_by_label("Name on card").fill("Anna Andersson")
    page.get_by_role("button", name="Authorize").click()


def test_hold_on_request_capture_on_approval_refund_and_release(
    browser, live_server, settings, sandbox_processor
):
    settings.SITE_URL = live_server.url  # the processor's page sends Anna back here
    seed_demo()
    seen = []
    anna = sign_in_as(browser, live_server, "anna@acme.example", seen)
    expect(available(anna)).to_have_text("€554.00")

    anna.get_by_role("link", name="Catalogue").first.click()
    anna.get_by_role("link", name="Samsung Galaxy Tab S9").click()
    expect(
        anna.get_by_text("€554.00 comes from your budget and the remaining €345.00")
    ).to_be_visible()
    expect(anna.get_by_label("Card number")).to_have_count(0)  # never on Velory's page
    anna.get_by_role("button", name="Continue to card payment").click()
    pay_on_the_processors_page(anna, THREE_DS_CARD, sandbox_processor.url)
    expect(anna.get_by_role("heading", name="3D Secure 2 test page")).to_be_visible()
    anna.get_by_role("button", name="Complete authentication").click()

    expect(anna).to_have_url(f"{live_server.url}/me/")
    expect(anna.get_by_role("status").first).to_contain_text("Your card is authorized")
    expect(available(anna)).to_have_text("€0.00")
    requests = anna.locator("section", has=anna.get_by_role("heading", name="Your requests"))
    tablet_request = requests.locator(".item", has_text="Samsung Galaxy Tab S9")
    expect(tablet_request).to_contain_text("Waiting for approval")
    payments = anna.locator(
        "section", has=anna.get_by_role("heading", name="Card payments and refunds")
    )
    tablet = payments.locator(".item", has_text="Samsung Galaxy Tab S9")
    expect(tablet.get_by_test_id("payment-status")).to_have_text("Authorized (held)")
    expect(tablet).to_contain_text("•••• 3155")

    admin = sign_in_as(browser, live_server, "admin@acme.example")
    admin.goto(f"{live_server.url}/admin/orders/productrequest/?status__exact=pending")
    admin.get_by_role("link", name=re.compile("Samsung Galaxy Tab S9")).click()
    admin.get_by_test_id("action-approve").click()
    admin.get_by_role("button", name="Approve").click()
    expect(admin.locator(".messagelist")).to_contain_text("Approved. Order VO-")

    anna.goto(f"{live_server.url}/me/budget/")
    tablet = anna.locator(".item", has_text="Samsung Galaxy Tab S9")
    expect(tablet.get_by_test_id("payment-status")).to_have_text("Charged")
    payment = CardPayment.objects.get(purpose__startswith="Samsung Galaxy Tab S9")
    assert get_gateway().intent_get(payment.charge_id).amount_received == 34500

    admin.get_by_role("link", name=re.compile(r"^VO-\d+$")).click()
    admin.get_by_test_id("action-cancel").click()
    admin.get_by_label("Reason").fill("The tablet is discontinued")
    admin.get_by_role("button", name="Cancel order").click()
    expect(admin.locator(".messagelist")).to_contain_text("554.00 released to the budget")
    anna.goto(f"{live_server.url}/me/budget/")
    tablet = anna.locator(".item", has_text="Samsung Galaxy Tab S9")
    expect(tablet).to_contain_text("Refund of €345.00 to the same card: Refunded")
    expect(tablet.get_by_test_id("payment-status")).to_have_text("Refunded")

    # A second request over budget, held on the card, is rejected: the hold is released.
    anna.goto(f"{live_server.url}/catalogue/")
    anna.get_by_role("link", name="Samsung Galaxy Tab S9").click()
    anna.get_by_role("button", name="Continue to card payment").click()
    pay_on_the_processors_page(anna, "4242424242424242", sandbox_processor.url)
    expect(anna.get_by_role("status").first).to_contain_text("Your card is authorized")
    admin.goto(f"{live_server.url}/admin/orders/productrequest/?status__exact=pending")
    admin.get_by_role("link", name=re.compile("Samsung Galaxy Tab S9")).click()
    admin.get_by_test_id("action-reject").click()
    admin.get_by_label("Reason").fill("One tablet is enough")
    admin.get_by_role("button", name="Reject").click()
    anna.goto(f"{live_server.url}/me/budget/")
    second = anna.locator(".item", has_text="Samsung Galaxy Tab S9").filter(
        has=anna.get_by_test_id("payment-status").filter(has_text="Released")
    )
    expect(second).to_have_count(1)
    held = CardPayment.objects.filter(status="voided").get()
    assert get_gateway().intent_get(held.charge_id).amount_received == 0  # nothing charged

    ours = [(url, body) for url, body in seen if url.startswith(live_server.url)]
    assert ours and not [u for u, b in ours if THREE_DS_CARD in u + b or "4242424242" in u + b]
    theirs = [u for u, _ in seen if u.startswith(sandbox_processor.url)]
    assert any("/pay/cs_" in u for u in theirs)  # the card went to the processor only
