"""In Chromium, a company admin's day on the demo data: Acme's admin signs in and lands on
the dashboard, follows "Requests waiting for approval" from the inbox, approves Anna's
keyboard with her budget and devices beside it, rejects Ben's headset with a reason, then
cancels the order she just approved and sees it Cancelled, and the inbox empty again."""

import re

import pytest
from playwright.sync_api import expect

from companies.models import User
from demo.data import seed_demo
from orders import services as order_services
from orders.models import Order, Product, ProductRequest
from tests.e2e.signin import signed_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def ben_requests_a_headset():
    """A second request waiting for approval, beside the demo's (Anna's keyboard)."""
    ben = User.objects.get(email="ben@acme.example")
    headset = Product.objects.get(company=ben.company, name="Jabra Evolve2 65")
    submitted = order_services.request_submit(
        employee=ben,
        product_id=headset.pk,
        delivery_address="Ben Berg\nKontorsvägen 2\n111 33 Stockholm",
        note="My old headset's microphone is broken.",
    )
    assert submitted.status == "pending", submitted.status
    return submitted


def inbox_item(page, label):
    return page.get_by_test_id("inbox").locator("li", has_text=label)


def test_company_admin_approves_rejects_and_cancels(browser, live_server):
    seed_demo()
    headset = ben_requests_a_headset()
    keyboard = ProductRequest.objects.get(employee__email="anna@acme.example", status="pending")

    page = signed_in(browser, live_server, "admin@acme.example")

    # The dashboard: what waits on her, with counts; two requests wait for approval.
    expect(page).to_have_url(f"{live_server.url}/admin/")
    expect(page.get_by_role("heading", name=re.compile(r"^Waiting on you: \d+$"))).to_be_visible()
    waiting = inbox_item(page, "Requests waiting for approval")
    expect(waiting.locator(".count")).to_have_text("2")
    expect(waiting).to_contain_text("oldest:")
    expect(page.get_by_role("heading", name="Budgets this period")).to_be_visible()

    # The inbox link opens the list of waiting requests, oldest first.
    waiting.get_by_role("link", name="Requests waiting for approval").click()
    expect(page).to_have_url(re.compile(r"/admin/orders/productrequest/\?.*status__exact=pending"))
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text="Apple Magic Keyboard")).to_contain_text("Anna Andersson")
    expect(rows.filter(has_text="Jabra Evolve2 65")).to_contain_text("Ben Berg")
    expect(rows.filter(has_text="Waiting for approval")).to_have_count(2)
    listed = [rows.nth(i).locator("th").inner_text() for i in range(2)]  # checked at the end

    # Anna's keyboard, with what the admin decides on beside it.
    rows.filter(has_text="Apple Magic Keyboard").get_by_role("link").first.click()
    expect(page.get_by_role("heading", name=re.compile(keyboard.number))).to_be_visible()
    context_panel = page.get_by_role("complementary", name=re.compile("Before you decide"))
    expect(context_panel).to_be_visible()
    expect(context_panel.get_by_test_id("budget-available")).to_have_text(
        re.compile(r"^€[\d,]+\.\d\d$")
    )
    expect(context_panel.get_by_test_id("budget-share")).to_have_text("€149.00")
    expect(context_panel).to_contain_text("MacBook Pro 14 M4")  # her devices and orders
    expect(context_panel).to_contain_text("Dell UltraSharp 27 4K")
    approve = page.get_by_test_id("action-approve")
    expect(approve).to_have_text("Approve")
    expect(approve).to_have_class(re.compile("vr-primary"))  # the primary button
    approve.click()
    page.get_by_role("button", name="Approve").click()
    message = page.locator(".messagelist")
    expect(message).to_contain_text(re.compile(r"Approved\. Order VO-\d+ has gone to Nordic IT"))
    keyboard.refresh_from_db()
    assert keyboard.status == "approved"
    order = keyboard.order
    expect(page.locator(".field-status")).to_contain_text("Approved")
    expect(page.get_by_test_id("action-approve")).to_have_count(0)  # decided: no buttons

    # Ben's headset: Reject asks for a reason, and will not go without one.
    page.goto(f"{live_server.url}/admin/")
    expect(inbox_item(page, "Requests waiting for approval").locator(".count")).to_have_text("1")
    inbox_item(page, "Requests waiting for approval").get_by_role("link").click()
    expect(rows).to_have_count(1)
    rows.first.get_by_role("link", name=re.compile(headset.number)).click()
    expect(page.get_by_role("complementary", name=re.compile("Before you decide"))).to_contain_text(
        "€249.00"
    )
    page.get_by_test_id("action-reject").click()
    page.get_by_role("button", name="Reject").click()
    expect(page.locator(".errorlist")).to_contain_text("required")
    page.get_by_label("Reason").fill("You got a new headset in March: ask IT to repair it.")
    page.get_by_role("button", name="Reject").click()
    expect(message).to_contain_text("Rejected; the employee has been told why.")
    expect(page.locator(".field-status")).to_contain_text("Rejected")
    expect(page.locator(".field-decision_reason")).to_contain_text("ask IT to repair it")
    headset.refresh_from_db()
    assert headset.status == "rejected"

    # Nothing waits for approval now.
    page.goto(f"{live_server.url}/admin/")
    waiting = inbox_item(page, "Requests waiting for approval")
    expect(waiting.locator(".count")).to_have_text("0")
    expect(waiting.get_by_role("link")).to_have_count(0)

    # The keyboard's order is cancelled after all: its status changes on the page.
    page.goto(f"{live_server.url}/admin/orders/order/{order.pk}/change/")
    expect(page.get_by_role("heading", name=re.compile(order.number))).to_be_visible()
    page.get_by_test_id("action-cancel").click()
    page.get_by_label("Reason").fill("Anna already has a keyboard from the office stock.")
    page.get_by_role("button", name=re.compile("^Cancel order")).click()
    expect(message).to_contain_text("released to the budget")
    expect(page).to_have_url(re.compile(rf"/admin/orders/order/{order.pk}/change/"))
    expect(page.locator("#devices-group")).to_contain_text("Cancelled")
    expect(page.get_by_test_id("action-cancel")).to_have_count(0)
    assert {d.status for d in Order.objects.get(pk=order.pk).devices.all()} == {"cancelled"}
    page.context.close()

    # The inbox's list opened oldest first, as the request list itself does (issue 14).
    assert [keyboard.number in listed[0], headset.number in listed[1]] == [True, True], (
        f"the inbox's 'Requests waiting for approval' list is not oldest first: {listed}"
    )
